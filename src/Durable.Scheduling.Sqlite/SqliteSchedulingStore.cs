using System.Globalization;
using System.Text.Json;
using Durable.Scheduling.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// The SQLite store: the <see cref="ISchedulingStore"/> operations as SQL. Writes go through one writer connection
/// that commits whatever callers have queued in one transaction (<see cref="SqliteWriteQueue"/>: group commit, each
/// write in its own savepoint); reads use a small pool of reader connections (<see cref="SqliteReaderPool"/>; WAL lets
/// them run beside the writer); the file is checked and migrated on first use (<see cref="SqliteSchemaMigrator"/>). Several processes may share one file: SQLite's
/// write lock serializes their transactions (<c>BEGIN IMMEDIATE</c>), and busy or locked errors are waited out for
/// <see cref="SqliteSchedulingOptions.BusyTimeout"/>, then reported as <see cref="TimeoutException"/>.
/// </summary>
internal sealed partial class SqliteSchedulingStore : ISchedulingStore, IAsyncDisposable, IDisposable
{
    /// <summary>
    /// Writes of more rows than this (a statement each) are committed in a transaction of their own (see
    /// <see cref="SqliteWriteQueue"/>): a batch of the default size still shares its commit with others.
    /// </summary>
    private const int LongWrite = 1000;

    private readonly SqliteFile _file;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _initLock = new(1, 1);
    private SqliteWriteQueue? _writes;
    private SqliteReaderPool? _readers;
    private volatile bool _initialized;

    public SqliteSchedulingStore(SqliteSchedulingOptions options, ILogger? logger = null)
    {
        _logger = logger ?? NullLogger.Instance;
        var builder = Validate(options);
        builder.Pooling = false;
        builder.DefaultTimeout = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds);
        _file = new SqliteFile(options, builder.ToString(), Path.GetFullPath(builder.DataSource));
    }

    /// <summary>Checks the options, naming the one that is wrong; returns the parsed connection string.</summary>
    /// <exception cref="ArgumentException">An option is missing or out of range.</exception>
    internal static SqliteConnectionStringBuilder Validate(SqliteSchedulingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            throw new ArgumentException("SqliteSchedulingOptions.ConnectionString is required, for example \"Data Source=scheduling.db\".", nameof(options));
        }

        SqliteConnectionStringBuilder builder;
        try
        {
            builder = new SqliteConnectionStringBuilder(options.ConnectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException)
        {
            throw new ArgumentException($"SqliteSchedulingOptions.ConnectionString is not a valid SQLite connection string: {e.Message}", nameof(options), e);
        }

        if (builder.Mode == SqliteOpenMode.ReadOnly)
        {
            throw new ArgumentException("The SQLite store writes (runs, leases, outcomes): the connection string must not open the database read-only (Mode=ReadOnly).", nameof(options));
        }

        if (builder.Mode == SqliteOpenMode.Memory || builder.DataSource is "" or ":memory:")
        {
            throw new ArgumentException("The SQLite store needs a database file; the connection string names an in-memory database. Use the in-memory store instead.", nameof(options));
        }

        if (options.BusyTimeout < TimeSpan.Zero || options.MaxWritesPerTransaction < 1 || options.MaxPageCount is < 1)
        {
            throw new ArgumentException("SqliteSchedulingOptions.BusyTimeout must not be negative, MaxWritesPerTransaction must be at least 1 and MaxPageCount, when set, at least 1.", nameof(options));
        }

        return builder;
    }

    // ---- writes -------------------------------------------------------------------------------------------------

    public async ValueTask<IReadOnlyList<InsertResult>> InsertAsync(IReadOnlyList<ScheduledRun> runs, CancellationToken cancellationToken)
    {
        // The metadata's JSON is made here, on the caller's thread: the one writer thread bounds the store's rate.
        string?[]? metadata = null;
        for (int i = 0; i < runs.Count; i++)
        {
            if (runs[i].Metadata.Count > 0)
            {
                (metadata ??= new string?[runs.Count])[i] = JsonSerializer.Serialize(runs[i].Metadata);
            }
        }

        return await WriteAsync(() =>
        {
            var results = new InsertResult[runs.Count];
            for (int i = 0; i < runs.Count; i++)
            {
                results[i] = InsertOne(runs[i], metadata?[i]);
            }

            return results;
        }, cancellationToken, items: runs.Count).ConfigureAwait(false);
    }

    /// <param name="run">The run.</param>
    /// <param name="metadataJson">Its metadata as JSON, or null when it has none.</param>
    private InsertResult InsertOne(ScheduledRun run, string? metadataJson)
    {
        var insert = Statement("""
            INSERT INTO ds_runs (id, workflow, kind, idem_key, scheduled, due, status, attempt, input, metadata, created, trace_parent, schedule_id, overlap)
            VALUES ($id, $workflow, $kind, $key, $scheduled, $due, 0, 0, $input, $metadata, $created, $trace, $schedule, $overlap)
            ON CONFLICT (idem_key) DO NOTHING
            """);
        insert.Bind("$id", run.Id);
        insert.Bind("$workflow", run.WorkflowName);
        insert.Bind("$kind", (long)run.Kind);
        insert.Bind("$key", run.IdempotencyKey);
        insert.Bind("$scheduled", run.ScheduledTime.UtcTicks);
        insert.Bind("$due", run.DueTime.UtcTicks);
        insert.Bind("$input", run.Input);
        insert.Bind("$trace", run.TraceParent);
        insert.Bind("$schedule", run.ScheduleId);
        insert.Bind("$overlap", run.Overlap is { } overlap ? (long)overlap : null);
        insert.Bind("$metadata", metadataJson);
        insert.Bind("$created", run.CreatedAt.UtcTicks);
        if (insert.Execute() == 1)
        {
            if (run.Metadata.Count > 0)
            {
                var meta = Statement("INSERT INTO ds_run_pairs (key, value, scheduled, run_id) VALUES ($key, $value, $scheduled, $id)");
                foreach (var (key, value) in run.Metadata)
                {
                    meta.Bind("$id", run.Id);
                    meta.Bind("$scheduled", run.ScheduledTime.UtcTicks);
                    meta.Bind("$key", key);
                    meta.Bind("$value", value);
                    meta.Execute();
                }
            }

            return new InsertResult(run is { Status: RunStatus.Pending, Attempt: 0 } ? run : run with { Status = RunStatus.Pending, Attempt = 0 }, true);
        }

        var existing = Statement($"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE idem_key = $key");
        existing.Bind("$key", run.IdempotencyKey); // whole, as the insert wrote it
        try
        {
            if (!existing.Step())
            {
                throw new InvalidOperationException($"Run {run.Id} conflicts with a stored run on its id but not on its idempotency key.");
            }

            return new InsertResult(SqliteRows.ReadRun(existing), false);
        }
        finally
        {
            existing.Reset();
        }
    }

    public async ValueTask<IReadOnlyList<RunRefusal>> DeleteAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<RunRefusal>>(() =>
        {
            var refused = new List<RunRefusal>();
            var status = Command("SELECT status FROM ds_runs WHERE id = $id");
            var delete = Command("DELETE FROM ds_runs WHERE id = $id AND status <> 1");
            foreach (var id in ids)
            {
                SqliteRows.Bind(delete, "$id", id.ToByteArray());
                if (delete.ExecuteNonQuery() == 0)
                {
                    SqliteRows.Bind(status, "$id", id.ToByteArray());
                    var found = status.ExecuteScalar();
                    refused.Add(new RunRefusal(id, found is null ? null : (RunStatus)Convert.ToInt32(found, CultureInfo.InvariantCulture)));
                }
            }

            return refused;
        }, cancellationToken, items: ids.Count).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<Guid>> DeleteAsync(RunQuery filter, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<Guid>>(() =>
        {
            using var command = _writes!.CreateCommand();
            var where = SqliteRows.Where(command, filter with { ContinuationToken = null });
            command.CommandText = $"DELETE FROM ds_runs WHERE {where} AND status <> 1 RETURNING id";
            var deleted = new List<Guid>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                deleted.Add(new Guid((byte[])reader[0]));
            }

            return deleted;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<ScheduledRun>> RescheduleAsync(IReadOnlyList<RunTimeChange> changes, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<ScheduledRun>>(() =>
        {
            var status = Command("SELECT status FROM ds_runs WHERE id = $id");
            var refused = new List<RunRefusal>();
            foreach (var (id, _) in changes)
            {
                SqliteRows.Bind(status, "$id", id.ToByteArray());
                var found = status.ExecuteScalar();
                if (found is null || Convert.ToInt32(found, CultureInfo.InvariantCulture) != (int)RunStatus.Pending)
                {
                    refused.Add(new RunRefusal(id, found is null ? null : (RunStatus)Convert.ToInt32(found, CultureInfo.InvariantCulture)));
                }
            }

            if (refused.Count > 0)
            {
                throw new ScheduledRunStateException(refused, "reschedule");
            }

            var update = Command($"UPDATE ds_runs SET scheduled = $time, due = $time WHERE id = $id RETURNING {SqliteSchema.RunColumns}");
            var result = new List<ScheduledRun>(changes.Count);
            foreach (var (id, time) in changes)
            {
                // The run's metadata pairs move with it (trigger ds_runs_pairs_move).
                SqliteRows.Bind(update, "$id", id.ToByteArray());
                SqliteRows.Bind(update, "$time", time.UtcTicks);
                using var reader = update.ExecuteReader();
                reader.Read();
                result.Add(SqliteRows.ReadRun(reader));
            }

            return result;
        }, cancellationToken, items: changes.Count).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<Guid>> SkipPendingAsync(IReadOnlyList<Guid> ids, DateTimeOffset at, RunError reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reason);
        return await WriteAsync<IReadOnlyList<Guid>>(() =>
        {
            var skip = Command("""
                UPDATE ds_runs SET status = 5, completed = $at, error_type = $type, error_message = $message
                WHERE id = $id AND status = 0
                """);
            var skipped = new List<Guid>(ids.Count);
            foreach (var id in ids)
            {
                SqliteRows.Bind(skip, "$id", id.ToByteArray());
                SqliteRows.Bind(skip, "$at", at.UtcTicks);
                SqliteRows.Bind(skip, "$type", reason.Type);
                SqliteRows.Bind(skip, "$message", reason.Message);
                if (skip.ExecuteNonQuery() == 1)
                {
                    skipped.Add(id);
                }
            }

            return skipped;
        }, cancellationToken, items: ids.Count).ConfigureAwait(false);
    }

    public async ValueTask AdvanceWatermarkAsync(string schedule, DateTimeOffset value, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            Advance(schedule, value);
            return 1;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var purge = Command("""
                DELETE FROM ds_runs WHERE id IN (SELECT id FROM ds_runs WHERE status >= 2 AND completed < $before LIMIT $limit)
                """);
            SqliteRows.Bind(purge, "$before", endedBefore.UtcTicks);
            SqliteRows.Bind(purge, "$limit", limit);
            int purged = purge.ExecuteNonQuery();

            // Deleted schedules are forgotten too, except the one holding the highest sequence (the next one follows it).
            var forget = Command("DELETE FROM ds_schedules WHERE deleted = 1 AND updated < $before AND seq < (SELECT max(seq) FROM ds_schedules)");
            SqliteRows.Bind(forget, "$before", endedBefore.UtcTicks);
            forget.ExecuteNonQuery();
            return purged;
        }, cancellationToken).ConfigureAwait(false);

    // ---- reads --------------------------------------------------------------------------------------------------

    public async ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken) =>
        await ReadAsync(connection =>
        {
            var command = SqliteReaderPool.Prepared(connection, $"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE id = $id");
            SqliteRows.Bind(command, "$id", id.ToByteArray());
            using var reader = command.ExecuteReader();
            return reader.Read() ? SqliteRows.ReadRun(reader) : null;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken) =>
        await ReadAsync(connection => SqliteListQuery.Read(connection, query), cancellationToken).ConfigureAwait(false);

    public async ValueTask<DuePage> GetDueAsync(DateTimeOffset until, int limit, string? continuation, CancellationToken cancellationToken) =>
        await ReadAsync(connection =>
        {
            (long afterDue, Guid afterId) = ContinuationTokens.Decode(continuation);
            var command = SqliteReaderPool.Prepared(connection, """
                SELECT id, workflow, kind, due, schedule_id, overlap FROM ds_runs
                WHERE status = 0 AND due <= $until AND (due > $afterDue OR (due = $afterDue AND id > $afterId))
                ORDER BY due, id LIMIT $limit
                """);
            SqliteRows.Bind(command, "$until", until.UtcTicks);
            SqliteRows.Bind(command, "$afterDue", afterDue);
            SqliteRows.Bind(command, "$afterId", afterId.ToByteArray());
            SqliteRows.Bind(command, "$limit", limit);
            var runs = new List<DueRun>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                runs.Add(new DueRun(
                    new Guid((byte[])reader[0]), reader.GetString(1), (RunKind)reader.GetInt32(2), new DateTimeOffset(reader.GetInt64(3), TimeSpan.Zero),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.IsDBNull(5) ? null : (OverlapPolicy)reader.GetInt32(5)));
            }

            string? token = runs.Count < limit ? null : ContinuationTokens.Encode(runs[^1].DueTime.UtcTicks, runs[^1].Id);
            return new DuePage(runs, token);
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<ScheduledRun>> GetExpiredLeasesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        await ReadAsync<IReadOnlyList<ScheduledRun>>(connection =>
        {
            var command = SqliteReaderPool.Prepared(connection, $"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE status = 1 AND lease_expires <= $now LIMIT $limit");
            SqliteRows.Bind(command, "$now", now.UtcTicks);
            SqliteRows.Bind(command, "$limit", limit);
            var runs = new List<ScheduledRun>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                runs.Add(SqliteRows.ReadRun(reader));
            }

            return runs;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<DateTimeOffset?> GetWatermarkAsync(string schedule, CancellationToken cancellationToken) =>
        await ReadAsync<DateTimeOffset?>(connection =>
        {
            var command = SqliteReaderPool.Prepared(connection, "SELECT value FROM ds_watermarks WHERE schedule = $schedule");
            SqliteRows.Bind(command, "$schedule", schedule);
            var value = command.ExecuteScalar();
            return value is null ? null : new DateTimeOffset(Convert.ToInt64(value, CultureInfo.InvariantCulture), TimeSpan.Zero);
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        if (_writes is not null)
        {
            await _writes.DisposeAsync().ConfigureAwait(false);
        }

        if (_readers is not null)
        {
            await _readers.DisposeAsync().ConfigureAwait(false);
        }

        _initLock.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    // ---- machinery ----------------------------------------------------------------------------------------------

    /// <param name="write">The write.</param>
    /// <param name="cancellationToken">Cancels it while queued.</param>
    /// <param name="items">How many rows it writes one statement each (more than <see cref="LongWrite"/>: a transaction of its own).</param>
    private async Task<T> WriteAsync<T>(Func<T> write, CancellationToken cancellationToken, int items = 1)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureInitializedAsync().ConfigureAwait(false);
        return await _writes!.WriteAsync(write, cancellationToken, alone: items > LongWrite).ConfigureAwait(false);
    }

    private async Task<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureInitializedAsync().ConfigureAwait(false);
        return await _readers!.ReadAsync(read, cancellationToken).ConfigureAwait(false);
    }

    private SqliteCommand Command(string sql) => _writes!.Command(sql);

    /// <summary>A prepared statement of the writer, bound by position (for the writes made per run; inside a write only).</summary>
    private SqliteStatement Statement(string sql) => _writes!.Statement(sql);

    /// <summary>Creates the file's folder; a path through a regular file is reported as such, naming it.</summary>
    private void CreateFolder()
    {
        var directory = Path.GetDirectoryName(_file.Path);
        if (string.IsNullOrEmpty(directory))
        {
            return;
        }

        for (var ancestor = directory; !string.IsNullOrEmpty(ancestor); ancestor = Path.GetDirectoryName(ancestor))
        {
            if (File.Exists(ancestor))
            {
                throw new StoreUnusableException($"The SQLite database '{_file.Path}' cannot be created: '{ancestor}' is a file, not a folder. Check the path in the connection string.");
            }
        }

        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StoreUnusableException($"The SQLite database '{_file.Path}' cannot be created: the folder '{directory}' cannot be created or written ({e.Message}).", e);
        }
    }

    /// <summary>Opens the file on first use: creates its folder, checks and migrates the schema, starts the writer.</summary>
    private async Task EnsureInitializedAsync()
    {
        if (_initialized)
        {
            return;
        }

        await _initLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            CreateFolder();
            var writer = _file.OpenOrThrow();
            try
            {
                await SqliteSchemaMigrator.InitializeAsync(_file, writer).ConfigureAwait(false);
            }
            catch (SqliteException e)
            {
                // A read-only file, a file that is not a database...: the contract's IOException, naming the file.
                await writer.DisposeAsync().ConfigureAwait(false);
                throw _file.Unavailable(e, "opened for writing");
            }
            catch
            {
                // Nothing half-opened stays behind: the next call (the scheduler retries) starts afresh.
                await writer.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            _writes = new SqliteWriteQueue(_file, writer);
            _readers = new SqliteReaderPool(_file);
            _initialized = true;
            if (SqliteFileSystem.NetworkMountOf(_file.Path) is { } mount)
            {
                SqliteLog.NetworkFileSystem(_logger, _file.Path, mount.Type, mount.Root);
            }
        }
        finally
        {
            _initLock.Release();
        }
    }
}
