using Durable.Scheduling.PostgreSql;
using Npgsql;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>Stores on the test server, each in a schema of its own (dropped when the store is).</summary>
internal static class PostgreSqlTestStores
{
    /// <summary>A new schema name no other test uses.</summary>
    public static string NewSchema() => "t_" + Guid.NewGuid().ToString("N");

    /// <summary>A store on a fresh schema; lock waits give up after half a second (the failure tests hold a lock).</summary>
    public static async Task<PostgreSqlSchedulingStore> CreateAsync(string? schema = null, bool notifications = true, TimeProvider? time = null)
    {
        string connectionString = await PostgreSqlServer.ConnectionStringAsync() + ";Options=-c lock_timeout=500";
        var options = new PostgreSqlSchedulingOptions { ConnectionString = connectionString, Schema = schema ?? NewSchema(), Notifications = notifications };
        return new PostgreSqlSchedulingStore(NpgsqlDataSource.Create(connectionString), ownsDataSource: true, options, time ?? TimeProvider.System, logger: null);
    }

    /// <summary>Drops a schema and everything in it.</summary>
    public static async Task DropSchemaAsync(string schema)
    {
        await using var connection = new NpgsqlConnection(await PostgreSqlServer.ConnectionStringAsync() + ";Pooling=false");
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
