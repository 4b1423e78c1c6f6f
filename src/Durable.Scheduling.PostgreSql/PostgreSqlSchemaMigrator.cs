using Npgsql;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// Checks and migrates the schema on first use, in one transaction under a transaction-scoped advisory lock keyed by
/// the schema name: instances starting at once queue on the lock, the first migrates, the others find the schema
/// current. A newer schema, tables of another program in the schema, or a damaged schema are refused before anything
/// is changed (<see cref="PostgreSqlSchemaException"/>).
/// </summary>
internal static class PostgreSqlSchemaMigrator
{
    public static async Task InitializeAsync(NpgsqlConnection connection, string schema, string database, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var transactionScope = transaction.ConfigureAwait(false);
        var advisoryLock = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, transaction);
        await using (advisoryLock.ConfigureAwait(false))
        {
            advisoryLock.Parameters.AddWithValue("key", LockKey(schema));
            await advisoryLock.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var tables = new HashSet<string>(StringComparer.Ordinal);
        var list = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = @schema", connection, transaction);
        await using (list.ConfigureAwait(false))
        {
            list.Parameters.AddWithValue("schema", schema);
            var reader = await list.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                tables.Add(reader.GetString(0));
            }
        }

        int version = 0;
        if (tables.Contains("ds_schema"))
        {
            var command = new NpgsqlCommand($"SELECT product, version FROM {PostgreSqlSchema.Quote(schema)}.ds_schema WHERE id = 1", connection, transaction);
            await using var commandScope = command.ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false) || reader.GetString(0) != PostgreSqlSchema.Product)
            {
                throw new PostgreSqlSchemaException(database, schema, null, PostgreSqlSchema.Latest, "holds a ds_schema table that is not Durable.Scheduling's");
            }

            version = reader.GetInt32(1);
        }
        else if (tables.Overlaps(PostgreSqlSchema.Tables))
        {
            throw new PostgreSqlSchemaException(database, schema, null, PostgreSqlSchema.Latest, $"holds tables named like this store's ({string.Join(", ", tables.Intersect(PostgreSqlSchema.Tables))}) but no Durable.Scheduling schema record: another program's, or damaged");
        }

        if (version > PostgreSqlSchema.Latest)
        {
            throw new PostgreSqlSchemaException(database, schema, version, PostgreSqlSchema.Latest, "was created by a newer version of Durable.Scheduling.PostgreSql");
        }

        if (version > 0 && !tables.IsSupersetOf(PostgreSqlSchema.TablesAt(version)))
        {
            throw new PostgreSqlSchemaException(database, schema, version, PostgreSqlSchema.Latest, $"is damaged: table(s) {string.Join(", ", PostgreSqlSchema.TablesAt(version).Except(tables))} missing");
        }

        if (version == 0)
        {
            var create = new NpgsqlCommand($"CREATE SCHEMA IF NOT EXISTS {PostgreSqlSchema.Quote(schema)}", connection, transaction);
            await using var createScope = create.ConfigureAwait(false);
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        for (; version < PostgreSqlSchema.Latest; version++)
        {
            var migrate = new NpgsqlCommand(PostgreSqlSchema.Migration(version, schema), connection, transaction);
            await using var migrateScope = migrate.ConfigureAwait(false);
            await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            var record = new NpgsqlCommand($"UPDATE {PostgreSqlSchema.Quote(schema)}.ds_schema SET version = @version WHERE id = 1", connection, transaction);
            await using var recordScope = record.ConfigureAwait(false);
            record.Parameters.AddWithValue("version", version + 1);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The advisory lock key of a schema: a stable 64-bit FNV-1a hash (the same in every process and version).</summary>
    internal static long LockKey(string schema)
    {
        ulong hash = 14695981039346656037;
        foreach (char c in "Durable.Scheduling:" + schema)
        {
            hash = (hash ^ c) * 1099511628211;
        }

        return unchecked((long)hash);
    }
}
