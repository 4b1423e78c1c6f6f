using Durable.Scheduling.Storage;
using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Testing;
using Microsoft.Data.Sqlite;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>The SQLite store passes the storage conformance suite, unchanged, on a real file.</summary>
[TestFixture]
public sealed class SqliteSchedulingStoreTests : SchedulingStoreConformanceTests
{
    private readonly Dictionary<ISchedulingStore, string> _files = [];

    protected override Task<ISchedulingStore> CreateStoreAsync()
    {
        var file = SqliteTestFiles.NewFile();
        var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={file}", BusyTimeout = TimeSpan.FromSeconds(1) });
        _files[store] = file;
        return Task.FromResult<ISchedulingStore>(store);
    }

    /// <summary>Another process's connection holds the write lock past the store's busy timeout.</summary>
    protected override async Task<IAsyncDisposable?> MakeUnavailableAsync(ISchedulingStore store)
    {
        var connection = new SqliteConnection($"Data Source={_files[store]};Pooling=False");
        await connection.OpenAsync();
        await using (var begin = connection.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync();
        }

        return connection; // disposing it rolls back and releases the lock
    }

    protected override async Task DisposeStoreAsync(ISchedulingStore store)
    {
        await ((SqliteSchedulingStore)store).DisposeAsync();
        SqliteTestFiles.Delete(_files[store]);
    }
}
