using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Sqlite;

namespace Durable.Scheduling.Tests.Testing;

/// <summary>
/// One storage for tests run on each store kind ("in memory" or "SQLite"): the in-memory store itself, or a new SQLite
/// file on which each <see cref="NewStore"/> opens a store of its own, as separate processes would. Disposing deletes
/// the file.
/// </summary>
internal sealed class SharedStorage : IDisposable
{
    private readonly InMemorySchedulingStore _memory = new();
    private readonly string? _file;

    public SharedStorage(string storeName, string name)
    {
        _file = storeName switch
        {
            "in memory" => null,
            "SQLite" => SqliteTestFiles.NewFile(name),
            _ => throw new ArgumentOutOfRangeException(nameof(storeName), storeName, "Expected \"in memory\" or \"SQLite\"."),
        };
    }

    /// <summary>A store on this storage: the same in-memory store each time, or another SQLite store on the file.</summary>
    public ISchedulingStore NewStore() =>
        _file is null ? _memory : new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}" });

    public void Dispose()
    {
        if (_file is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            SqliteTestFiles.Delete(_file);
        }
    }
}
