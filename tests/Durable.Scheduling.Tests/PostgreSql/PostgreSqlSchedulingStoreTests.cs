using Durable.Scheduling.PostgreSql;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Testing;
using Npgsql;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>The PostgreSQL store passes the storage conformance suite, unchanged, on a real server.</summary>
[TestFixture]
public sealed class PostgreSqlSchedulingStoreTests : SchedulingStoreConformanceTests
{
    private readonly Dictionary<ISchedulingStore, string> _schemas = [];

    protected override async Task<ISchedulingStore> CreateStoreAsync()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        var store = await PostgreSqlTestStores.CreateAsync(schema);
        _schemas[store] = schema;
        return store;
    }

    /// <summary>Another session holds an exclusive lock on the store's tables past the store's lock timeout.</summary>
    protected override async Task<IAsyncDisposable?> MakeUnavailableAsync(ISchedulingStore store)
    {
        var connection = new NpgsqlConnection(await PostgreSqlServer.ConnectionStringAsync() + ";Pooling=false");
        await connection.OpenAsync();
        await using (var begin = new NpgsqlCommand($"BEGIN; LOCK TABLE \"{_schemas[store]}\".runs, \"{_schemas[store]}\".watermarks IN ACCESS EXCLUSIVE MODE", connection))
        {
            await begin.ExecuteNonQueryAsync();
        }

        return connection; // disposing it ends the session, which rolls back and releases the lock
    }

    protected override async Task DisposeStoreAsync(ISchedulingStore store)
    {
        await ((PostgreSqlSchedulingStore)store).DisposeAsync();
        await PostgreSqlTestStores.DropSchemaAsync(_schemas[store]);
    }
}
