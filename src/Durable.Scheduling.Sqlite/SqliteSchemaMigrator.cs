using Microsoft.Data.Sqlite;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// Opens a file for the store: refuses a newer, foreign or damaged schema before anything changes the file, turns
/// on WAL, and migrates forward under the write lock, so two processes starting at once migrate once.
/// </summary>
internal static class SqliteSchemaMigrator
{
    private const int SqliteCorrupt = 11;
    private const int SqliteNotADatabase = 26;

    /// <summary>Checks, sets up and migrates the file through the writer connection.</summary>
    public static async Task InitializeAsync(SqliteFile file, SqliteConnection writer)
    {
        try
        {
            await file.RetryBusyAsync(() =>
            {
                // Refuse a newer, foreign or damaged schema before anything (even the journal mode) changes the file.
                using var check = writer.CreateCommand();
                int? version = ReadVersion(check, file.Path);
                if (version is { } v)
                {
                    CheckObjects(check, file.Path, v);
                }

                return version;
            }).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is SqliteCorrupt or SqliteNotADatabase)
        {
            throw new SqliteSchemaException(file.Path, null, SqliteSchema.Latest, $"is not a SQLite database or is damaged ({e.Message})");
        }

        await file.RetryBusyAsync(() =>
        {
            using var wal = writer.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode = WAL";
            return wal.ExecuteScalar();
        }).ConfigureAwait(false);
        await file.RetryBusyAsync(() => Migrate(writer, file.Path)).ConfigureAwait(false);
    }

    /// <summary>
    /// Brings the schema to the latest version under the write lock, so two processes starting at once migrate once;
    /// refuses a newer or foreign schema without touching the file.
    /// </summary>
    private static bool Migrate(SqliteConnection writer, string file)
    {
        using var transaction = writer.BeginTransaction(deferred: false);
        using var command = writer.CreateCommand();
        command.Transaction = transaction;
        int? version = ReadVersion(command, file);
        for (int v = version ?? 0; v < SqliteSchema.Latest; v++)
        {
            command.CommandText = SqliteSchema.Migrations[v];
            command.ExecuteNonQuery();
            command.CommandText = $"UPDATE ds_schema SET version = {v + 1} WHERE id = 1";
            command.ExecuteNonQuery();
        }

        // A write even when nothing was to migrate: a file the store cannot write (read-only) is refused at start-up
        // (SQLITE_READONLY becomes StoreUnusableException), not after the first run is scheduled.
        command.CommandText = "UPDATE ds_schema SET version = version WHERE id = 1";
        command.ExecuteNonQuery();
        transaction.Commit();
        return true;
    }

    /// <summary>Refuses a file missing any table, index or trigger its version should have (dropped by hand, or damaged).</summary>
    private static void CheckObjects(SqliteCommand command, string file, int version)
    {
        command.CommandText = "SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger')";
        var present = new HashSet<string>(StringComparer.Ordinal);
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                present.Add(reader.GetString(0));
            }
        }

        var missing = SqliteSchema.ObjectsAt(version).Where(name => !present.Contains(name)).ToList();
        if (missing.Count > 0)
        {
            throw new SqliteSchemaException(file, version, SqliteSchema.Latest, $"is damaged: it lacks {string.Join(", ", missing)}");
        }
    }

    /// <summary>The file's schema version (null when it has none yet); throws for a newer or foreign schema.</summary>
    private static int? ReadVersion(SqliteCommand command, string file)
    {
        // One statement, so one snapshot: another process may be committing the first migration meanwhile, and two
        // separate reads could see "no schema record" and then "our tables" and take the file for a foreign one.
        command.CommandText = "SELECT sum(name = 'ds_schema'), count(*) FROM sqlite_master WHERE name LIKE 'ds\\_%' ESCAPE '\\'";
        bool hasSchema;
        long ours;
        using (var names = command.ExecuteReader())
        {
            names.Read();
            hasSchema = !names.IsDBNull(0) && names.GetInt64(0) > 0;
            ours = names.GetInt64(1);
        }

        if (!hasSchema)
        {
            return ours == 0 ? null : throw new SqliteSchemaException(file, null, SqliteSchema.Latest, "has tables named like Durable.Scheduling's but no schema record");
        }

        command.CommandText = "SELECT product, version FROM ds_schema WHERE id = 1";
        int version;
        using (var reader = command.ExecuteReader())
        {
            if (!reader.Read() || reader.GetString(0) != SqliteSchema.Product)
            {
                throw new SqliteSchemaException(file, null, SqliteSchema.Latest, "has a ds_schema table that Durable.Scheduling did not write");
            }

            version = reader.GetInt32(1);
        }

        return version > SqliteSchema.Latest
            ? throw new SqliteSchemaException(file, version, SqliteSchema.Latest, "was written by a newer version of Durable.Scheduling.Sqlite")
            : version;
    }
}
