using Durable.Scheduling.Storage;
using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Tests.Storage;
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
        var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={file}" });
        _files[store] = file;
        return Task.FromResult<ISchedulingStore>(store);
    }

    protected override async Task DisposeStoreAsync(ISchedulingStore store)
    {
        await ((SqliteSchedulingStore)store).DisposeAsync();
        SqliteTestFiles.Delete(_files[store]);
    }
}
