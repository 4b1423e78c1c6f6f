using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// The SQLite store. Writes go through one writer connection that commits whatever callers have queued in one
/// transaction (group commit), each write in its own savepoint so one refusal never undoes another; reads use a small
/// pool of reader connections (WAL lets them run beside the writer). Several processes may share one file: SQLite's
/// write lock serializes their transactions (<c>BEGIN IMMEDIATE</c>), and busy or locked errors are waited out for
/// <see cref="SqliteSchedulingOptions.BusyTimeout"/>, then reported as <see cref="TimeoutException"/>.
/// </summary>
internal sealed class SqliteSchedulingStore : ISchedulingStore, IAsyncDisposable, IDisposable
{
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteCorrupt = 11;
    private const int SqliteNotADatabase = 26;

    private readonly SqliteSchedulingOptions _options;
    private readonly string _connectionString;
    private readonly string _file;
    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentBag<SqliteConnection> _readers = [];
    private readonly SemaphoreSlim _initLock = new(1, 1);
    private readonly Dictionary<string, SqliteCommand> _writerCommands = new(StringComparer.Ordinal);
    private static readonly IReadOnlyDictionary<string, string> s_noMetadata = new Dictionary<string, string>(0);
    private SqliteConnection? _writer;
    private SqliteTransaction? _transaction;
    private Task? _writerLoop;
    private volatile bool _initialized;

    public SqliteSchedulingStore(SqliteSchedulingOptions options)
    {
        var builder = Validate(options);
        builder.Pooling = false;
        builder.DefaultTimeout = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds);
        _connectionString = builder.ToString();
        _file = Path.GetFullPath(builder.DataSource);
        _options = options;
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

    public async ValueTask<IReadOnlyList<InsertResult>> InsertAsync(IReadOnlyList<ScheduledRun> runs, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var results = new InsertResult[runs.Count];
            for (int i = 0; i < runs.Count; i++)
            {
                results[i] = InsertOne(runs[i]);
            }

            return results;
        }, cancellationToken).ConfigureAwait(false);

    private InsertResult InsertOne(ScheduledRun run)
    {
        var insert = Command("""
            INSERT INTO ds_runs (id, workflow, kind, idem_key, scheduled, due, status, attempt, input, metadata, created)
            VALUES ($id, $workflow, $kind, $key, $scheduled, $due, 0, 0, $input, $metadata, $created)
            ON CONFLICT (idem_key) DO NOTHING
            """);
        Bind(insert, "$id", run.Id.ToByteArray());
        Bind(insert, "$workflow", run.WorkflowName);
        Bind(insert, "$kind", (int)run.Kind);
        Bind(insert, "$key", run.IdempotencyKey);
        Bind(insert, "$scheduled", run.ScheduledTime.UtcTicks);
        Bind(insert, "$due", run.DueTime.UtcTicks);
        Bind(insert, "$input", run.Input);
        Bind(insert, "$metadata", run.Metadata.Count == 0 ? null : JsonSerializer.Serialize(run.Metadata));
        Bind(insert, "$created", run.CreatedAt.UtcTicks);
        if (insert.ExecuteNonQuery() == 1)
        {
            if (run.Metadata.Count > 0)
            {
                var meta = Command("INSERT INTO ds_run_metadata (run_id, key, value) VALUES ($id, $key, $value)");
                foreach (var (key, value) in run.Metadata)
                {
                    Bind(meta, "$id", run.Id.ToByteArray());
                    Bind(meta, "$key", key);
                    Bind(meta, "$value", value);
                    meta.ExecuteNonQuery();
                }
            }

            return new InsertResult(run with { Status = RunStatus.Pending, Attempt = 0 }, true);
        }

        var existing = Command($"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE idem_key = $key");
        Bind(existing, "$key", run.IdempotencyKey);
        using var reader = existing.ExecuteReader();
        if (!reader.Read())
        {
            throw new InvalidOperationException($"Run {run.Id} conflicts with a stored run on its id but not on its idempotency key.");
        }

        return new InsertResult(ReadRun(reader), false);
    }

    public async ValueTask<IReadOnlyList<RunRefusal>> DeleteAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<RunRefusal>>(() =>
        {
            var refused = new List<RunRefusal>();
            var status = Command("SELECT status FROM ds_runs WHERE id = $id");
            var delete = Command("DELETE FROM ds_runs WHERE id = $id AND status <> 1");
            foreach (var id in ids)
            {
                Bind(delete, "$id", id.ToByteArray());
                if (delete.ExecuteNonQuery() == 0)
                {
                    Bind(status, "$id", id.ToByteArray());
                    var found = status.ExecuteScalar();
                    refused.Add(new RunRefusal(id, found is null ? null : (RunStatus)Convert.ToInt32(found, CultureInfo.InvariantCulture)));
                }
            }

            return refused;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<Guid>> DeleteAsync(RunQuery filter, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<Guid>>(() =>
        {
            using var command = _writer!.CreateCommand();
            command.Transaction = _transaction;
            var where = Where(command, filter with { ContinuationToken = null });
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
                Bind(status, "$id", id.ToByteArray());
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
                Bind(update, "$id", id.ToByteArray());
                Bind(update, "$time", time.UtcTicks);
                using var reader = update.ExecuteReader();
                reader.Read();
                result.Add(ReadRun(reader));
            }

            return result;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<RunLease>> ClaimAsync(IReadOnlyList<Guid> ids, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<RunLease>>(() =>
        {
            var claim = Command($"""
                UPDATE ds_runs SET status = 1, lease_token = $token, lease_expires = $expires, lease_owner = $owner, attempt = attempt + 1, started = $now
                WHERE id = $id AND ((status = 0 AND due <= $now) OR (status = 1 AND lease_expires <= $now))
                RETURNING {SqliteSchema.RunColumns}
                """);
            long expires = now.UtcTicks + leaseDuration.Ticks;
            var leases = new List<RunLease>(ids.Count);
            foreach (var id in ids)
            {
                var token = RunIds.Next(now);
                Bind(claim, "$id", id.ToByteArray());
                Bind(claim, "$token", token.ToByteArray());
                Bind(claim, "$expires", expires);
                Bind(claim, "$now", now.UtcTicks);
                Bind(claim, "$owner", owner);
                using var reader = claim.ExecuteReader();
                if (reader.Read())
                {
                    leases.Add(new RunLease(ReadRun(reader), token, new DateTimeOffset(expires, TimeSpan.Zero)));
                }
            }

            return leases;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> RenewAsync(Guid id, Guid leaseToken, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var renew = Command("UPDATE ds_runs SET lease_expires = $expires WHERE id = $id AND status = 1 AND lease_token = $token");
            Bind(renew, "$id", id.ToByteArray());
            Bind(renew, "$token", leaseToken.ToByteArray());
            Bind(renew, "$expires", expiresAt.UtcTicks);
            return renew.ExecuteNonQuery() == 1;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<bool>> CompleteAsync(IReadOnlyList<RunCompletion> completions, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<bool>>(() =>
        {
            var complete = Command("""
                UPDATE ds_runs SET status = $status, completed = $completed, error_type = $type, error_message = $message,
                    lease_token = NULL, lease_expires = NULL, lease_owner = NULL
                WHERE id = $id AND status = 1 AND lease_token = $token
                """);
            var results = new bool[completions.Count];
            for (int i = 0; i < completions.Count; i++)
            {
                var c = completions[i];
                Bind(complete, "$id", c.RunId.ToByteArray());
                Bind(complete, "$token", c.LeaseToken.ToByteArray());
                Bind(complete, "$status", (int)c.Status);
                Bind(complete, "$completed", c.CompletedAt.UtcTicks);
                Bind(complete, "$type", c.Error?.Type);
                Bind(complete, "$message", c.Error?.Message);
                results[i] = complete.ExecuteNonQuery() == 1;
            }

            return results;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> ReleaseAsync(Guid id, Guid leaseToken, DateTimeOffset dueTime, RunError? failure, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var release = Command("""
                UPDATE ds_runs SET status = 0, due = $due, lease_token = NULL, lease_expires = NULL, lease_owner = NULL,
                    error_type = coalesce($type, error_type), error_message = coalesce($message, error_message)
                WHERE id = $id AND status = 1 AND lease_token = $token
                """);
            Bind(release, "$id", id.ToByteArray());
            Bind(release, "$token", leaseToken.ToByteArray());
            Bind(release, "$due", dueTime.UtcTicks);
            Bind(release, "$type", failure?.Type);
            Bind(release, "$message", failure?.Message);
            return release.ExecuteNonQuery() == 1;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<int> ReleaseOwnedAsync(string owner, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var release = Command("""
                UPDATE ds_runs SET status = 0, lease_token = NULL, lease_expires = NULL, lease_owner = NULL
                WHERE status = 1 AND lease_owner = $owner
                """);
            Bind(release, "$owner", owner);
            return release.ExecuteNonQuery();
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask AdvanceWatermarkAsync(string schedule, DateTimeOffset value, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var upsert = Command("""
                INSERT INTO ds_watermarks (schedule, value) VALUES ($schedule, $value)
                ON CONFLICT (schedule) DO UPDATE SET value = max(value, excluded.value)
                """);
            Bind(upsert, "$schedule", schedule);
            Bind(upsert, "$value", value.UtcTicks);
            return upsert.ExecuteNonQuery();
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var purge = Command("""
                DELETE FROM ds_runs WHERE id IN (SELECT id FROM ds_runs WHERE status >= 2 AND completed < $before LIMIT $limit)
                """);
            Bind(purge, "$before", endedBefore.UtcTicks);
            Bind(purge, "$limit", limit);
            return purge.ExecuteNonQuery();
        }, cancellationToken).ConfigureAwait(false);

    // ---- reads --------------------------------------------------------------------------------------------------

    public async ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken) =>
        await ReadAsync(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE id = $id";
            command.Parameters.AddWithValue("$id", id.ToByteArray());
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadRun(reader) : null;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken) =>
        await ReadAsync(connection =>
        {
            using var command = connection.CreateCommand();
            string where = Where(command, query);
            int size = Math.Clamp(query.PageSize, 1, 1000);
            command.CommandText = $"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE {where} ORDER BY scheduled, id LIMIT {size + 1}";
            var items = new List<ScheduledRun>(size + 1);
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    items.Add(ReadRun(reader));
                }
            }

            string? token = null;
            if (items.Count > size)
            {
                items.RemoveAt(size);
                token = ContinuationTokens.Encode(items[^1].ScheduledTime.UtcTicks, items[^1].Id);
            }

            return new RunPage(items, token);
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<DuePage> GetDueAsync(DateTimeOffset until, int limit, string? continuation, CancellationToken cancellationToken) =>
        await ReadAsync(connection =>
        {
            using var command = connection.CreateCommand();
            (long afterDue, Guid afterId) = ContinuationTokens.Decode(continuation);
            command.CommandText = """
                SELECT id, workflow, kind, due FROM ds_runs
                WHERE status = 0 AND due <= $until AND (due > $afterDue OR (due = $afterDue AND id > $afterId))
                ORDER BY due, id LIMIT $limit
                """;
            command.Parameters.AddWithValue("$until", until.UtcTicks);
            command.Parameters.AddWithValue("$afterDue", afterDue);
            command.Parameters.AddWithValue("$afterId", afterId.ToByteArray());
            command.Parameters.AddWithValue("$limit", limit);
            var runs = new List<DueRun>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                runs.Add(new DueRun(new Guid((byte[])reader[0]), reader.GetString(1), (RunKind)reader.GetInt32(2), new DateTimeOffset(reader.GetInt64(3), TimeSpan.Zero)));
            }

            string? token = runs.Count < limit ? null : ContinuationTokens.Encode(runs[^1].DueTime.UtcTicks, runs[^1].Id);
            return new DuePage(runs, token);
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<ScheduledRun>> GetExpiredLeasesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        await ReadAsync<IReadOnlyList<ScheduledRun>>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE status = 1 AND lease_expires <= $now LIMIT $limit";
            command.Parameters.AddWithValue("$now", now.UtcTicks);
            command.Parameters.AddWithValue("$limit", limit);
            var runs = new List<ScheduledRun>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                runs.Add(ReadRun(reader));
            }

            return runs;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<DateTimeOffset?> GetWatermarkAsync(string schedule, CancellationToken cancellationToken) =>
        await ReadAsync<DateTimeOffset?>(connection =>
        {
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT value FROM ds_watermarks WHERE schedule = $schedule";
            command.Parameters.AddWithValue("$schedule", schedule);
            var value = command.ExecuteScalar();
            return value is null ? null : new DateTimeOffset(Convert.ToInt64(value, CultureInfo.InvariantCulture), TimeSpan.Zero);
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        if (_writerLoop is not null)
        {
            await _writerLoop.ConfigureAwait(false);
        }

        foreach (var command in _writerCommands.Values)
        {
            await command.DisposeAsync().ConfigureAwait(false);
        }

        if (_writer is not null)
        {
            await _writer.DisposeAsync().ConfigureAwait(false);
        }

        while (_readers.TryTake(out var reader))
        {
            await reader.DisposeAsync().ConfigureAwait(false);
        }

        _initLock.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    // ---- machinery ----------------------------------------------------------------------------------------------

    /// <summary>
    /// Queues a write for the writer's next transaction. A cancellation that comes before the writer takes the write
    /// cancels it (it never runs); once taken, it runs and its outcome is returned.
    /// </summary>
    private async Task<T> WriteAsync<T>(Func<T> write, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureInitializedAsync().ConfigureAwait(false);
        var op = new WriteOp(() => write());
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) => ((WriteOp)state!).TryCancel(token), op)
            : default;
        ObjectDisposedException.ThrowIf(!_writes.Writer.TryWrite(op), this);

        return (T)(await op.Completion.Task.ConfigureAwait(false))!;
    }

    private async Task<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await EnsureInitializedAsync().ConfigureAwait(false);
        if (!_readers.TryTake(out var connection))
        {
            connection = Open();
        }

        try
        {
            return await RetryBusyAsync(() => read(connection), cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw Unavailable(e, "read");
        }
        finally
        {
            _readers.Add(connection);
        }
    }

    private IOException Unavailable(SqliteException e, string action) =>
        new($"The SQLite database '{_file}' could not be {action}: {e.Message} (SQLite error {e.SqliteErrorCode}).", e);

    private async Task<T> RetryBusyAsync<T>(Func<T> action, CancellationToken cancellationToken = default)
    {
        var deadline = Environment.TickCount64 + (long)_options.BusyTimeout.TotalMilliseconds;
        int delay = 1;
        while (true)
        {
            try
            {
                return action();
            }
            catch (SqliteException e) when (e.SqliteErrorCode is SqliteBusy or SqliteLocked)
            {
                if (Environment.TickCount64 > deadline)
                {
                    throw new TimeoutException($"The SQLite database '{_file}' stayed locked by another connection for more than {_options.BusyTimeout}.", e);
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 100);
            }
        }
    }

    /// <summary>The writer loop: commits every queued write in one transaction, each in its own savepoint.</summary>
    private async Task WriterLoopAsync()
    {
        var batch = new List<WriteOp>(_options.MaxWritesPerTransaction);
        while (await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < _options.MaxWritesPerTransaction && _writes.Reader.TryRead(out var op))
            {
                if (op.TryTake())
                {
                    batch.Add(op); // else cancelled while queued: it never runs
                }
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                await RetryBusyAsync(() => CommitBatch(batch)).ConfigureAwait(false);
                foreach (var op in batch)
                {
                    op.Finish();
                }
            }
            catch (Exception e)
            {
                // The transaction rolled back: none of these writes happened. Disk full, I/O and similar errors reach
                // callers as an IOException naming the file, never as a provider exception.
                var error = e is SqliteException sqlite ? Unavailable(sqlite, "written") : e;
                foreach (var op in batch)
                {
                    op.Completion.TrySetException(error);
                }
            }

            batch.Clear();
        }
    }

    private bool CommitBatch(List<WriteOp> batch)
    {
        using var transaction = _writer!.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: take the write lock now
        _transaction = transaction;
        try
        {
            using var savepoint = _writer.CreateCommand();
            savepoint.Transaction = transaction;
            foreach (var op in batch)
            {
                op.Reset();
                savepoint.CommandText = "SAVEPOINT ds_op";
                savepoint.ExecuteNonQuery();
                try
                {
                    op.Run();
                    savepoint.CommandText = "RELEASE ds_op";
                    savepoint.ExecuteNonQuery();
                }
                catch (SqliteException e) when (e.SqliteErrorCode is SqliteBusy or SqliteLocked)
                {
                    throw;
                }
                catch (Exception e) when (e is not SqliteException { SqliteErrorCode: 10 or 13 or 14 }) // not I/O, full or can't-open
                {
                    savepoint.CommandText = "ROLLBACK TO ds_op; RELEASE ds_op";
                    savepoint.ExecuteNonQuery();
                    op.Fail(e);
                }
            }

            transaction.Commit();
            return true;
        }
        finally
        {
            _transaction = null;
        }
    }

    private SqliteCommand Command(string sql)
    {
        if (!_writerCommands.TryGetValue(sql, out var command))
        {
            command = _writer!.CreateCommand();
            command.CommandText = sql;
            _writerCommands.Add(sql, command);
        }

        command.Transaction = _transaction;
        return command;
    }

    private static void Bind(SqliteCommand command, string name, object? value)
    {
        var parameters = command.Parameters;
        int index = parameters.IndexOf(name);
        if (index < 0)
        {
            parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        else
        {
            parameters[index].Value = value ?? DBNull.Value;
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragmas = connection.CreateCommand();
        pragmas.CommandText = $"""
            PRAGMA busy_timeout = {(long)_options.BusyTimeout.TotalMilliseconds};
            PRAGMA synchronous = {(_options.Synchronous == SqliteSynchronous.Full ? "FULL" : "NORMAL")};
            PRAGMA foreign_keys = ON;
            {(_options.MaxPageCount is long pages ? $"PRAGMA max_page_count = {pages};" : "")}
            """;
        pragmas.ExecuteNonQuery();
        return connection;
    }

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

            var directory = Path.GetDirectoryName(_file);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            var writer = OpenOrThrow();
            try
            {
                await InitializeAsync(writer).ConfigureAwait(false);
            }
            catch
            {
                // Nothing half-opened stays behind: the next call (the scheduler retries every poll) starts afresh.
                await writer.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            _writer = writer;
            _writerLoop = Task.Run(WriterLoopAsync);
            _initialized = true;
        }
        finally
        {
            _initLock.Release();
        }
    }

    private SqliteConnection OpenOrThrow()
    {
        try
        {
            return Open();
        }
        catch (SqliteException e)
        {
            throw new IOException($"The SQLite database '{_file}' could not be opened: {e.Message} (SQLite error {e.SqliteErrorCode}).", e);
        }
    }

    private async Task InitializeAsync(SqliteConnection writer)
    {
        try
        {
            await RetryBusyAsync(() =>
            {
                // Refuse a newer or foreign schema before anything (even the journal mode) changes the file.
                using var check = writer.CreateCommand();
                return ReadVersion(check);
            }).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is SqliteCorrupt or SqliteNotADatabase)
        {
            throw new SqliteSchemaException(_file, null, SqliteSchema.Latest, $"is not a SQLite database or is damaged ({e.Message})");
        }

        await RetryBusyAsync(() =>
        {
            using var wal = writer.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode = WAL";
            return wal.ExecuteScalar();
        }).ConfigureAwait(false);
        await RetryBusyAsync(() => Migrate(writer)).ConfigureAwait(false);
    }

    /// <summary>
    /// Brings the schema to the latest version under the write lock, so two processes starting at once migrate once;
    /// refuses a newer or foreign schema without touching the file.
    /// </summary>
    private bool Migrate(SqliteConnection writer)
    {
        using var transaction = writer.BeginTransaction(deferred: false);
        using var command = writer.CreateCommand();
        command.Transaction = transaction;
        int? version = ReadVersion(command);
        for (int v = version ?? 0; v < SqliteSchema.Latest; v++)
        {
            command.CommandText = SqliteSchema.Migrations[v];
            command.ExecuteNonQuery();
            command.CommandText = $"UPDATE ds_schema SET version = {v + 1} WHERE id = 1";
            command.ExecuteNonQuery();
        }

        transaction.Commit();
        return true;
    }

    /// <summary>The file's schema version (null when it has none yet); throws for a newer or foreign schema.</summary>
    private int? ReadVersion(SqliteCommand command)
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
            return ours == 0 ? null : throw new SqliteSchemaException(_file, null, SqliteSchema.Latest, "has tables named like Durable.Scheduling's but no schema record");
        }

        command.CommandText = "SELECT product, version FROM ds_schema WHERE id = 1";
        int version;
        using (var reader = command.ExecuteReader())
        {
            if (!reader.Read() || reader.GetString(0) != SqliteSchema.Product)
            {
                throw new SqliteSchemaException(_file, null, SqliteSchema.Latest, "has a ds_schema table that Durable.Scheduling did not write");
            }

            version = reader.GetInt32(1);
        }

        return version > SqliteSchema.Latest
            ? throw new SqliteSchemaException(_file, version, SqliteSchema.Latest, "was written by a newer version of Durable.Scheduling.Sqlite")
            : version;
    }

    private static string Where(SqliteCommand command, RunQuery query)
    {
        var where = new StringBuilder("1 = 1");
        if (query.WorkflowName is not null)
        {
            where.Append(" AND workflow = $workflow");
            command.Parameters.AddWithValue("$workflow", query.WorkflowName);
        }

        if (query.Statuses is { Count: > 0 } statuses)
        {
            where.Append(" AND status IN (").AppendJoin(", ", statuses.Select(s => ((int)s).ToString(CultureInfo.InvariantCulture))).Append(')');
        }

        if (query.ScheduledFrom is { } from)
        {
            where.Append(" AND scheduled >= $from");
            command.Parameters.AddWithValue("$from", from.UtcTicks);
        }

        if (query.ScheduledTo is { } to)
        {
            where.Append(" AND scheduled < $to");
            command.Parameters.AddWithValue("$to", to.UtcTicks);
        }

        int i = 0;
        foreach (var (key, value) in query.Metadata ?? s_noMetadata)
        {
            where.Append(CultureInfo.InvariantCulture, $" AND EXISTS (SELECT 1 FROM ds_run_metadata m WHERE m.run_id = ds_runs.id AND m.key = $mk{i} AND m.value = $mv{i})");
            command.Parameters.AddWithValue($"$mk{i}", key);
            command.Parameters.AddWithValue($"$mv{i}", value);
            i++;
        }

        if (query.ContinuationToken is not null)
        {
            (long ticks, Guid id) = ContinuationTokens.Decode(query.ContinuationToken);
            where.Append(" AND (scheduled > $afterScheduled OR (scheduled = $afterScheduled AND id > $afterId))");
            command.Parameters.AddWithValue("$afterScheduled", ticks);
            command.Parameters.AddWithValue("$afterId", id.ToByteArray());
        }

        return where.ToString();
    }

    private static ScheduledRun ReadRun(SqliteDataReader reader)
    {
        var status = (RunStatus)reader.GetInt32(6);
        return new ScheduledRun
        {
            Id = new Guid((byte[])reader[0]),
            WorkflowName = reader.GetString(1),
            Kind = (RunKind)reader.GetInt32(2),
            IdempotencyKey = reader.GetString(3),
            ScheduledTime = new DateTimeOffset(reader.GetInt64(4), TimeSpan.Zero),
            DueTime = new DateTimeOffset(reader.GetInt64(5), TimeSpan.Zero),
            Status = status,
            Attempt = reader.GetInt32(7),
            Input = reader.IsDBNull(8) ? null : reader.GetString(8),
            Metadata = reader.IsDBNull(9) ? s_noMetadata : JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(9))!,
            CreatedAt = new DateTimeOffset(reader.GetInt64(10), TimeSpan.Zero),
            StartedAt = reader.IsDBNull(11) ? null : new DateTimeOffset(reader.GetInt64(11), TimeSpan.Zero),
            CompletedAt = reader.IsDBNull(12) || status is RunStatus.Pending or RunStatus.Running ? null : new DateTimeOffset(reader.GetInt64(12), TimeSpan.Zero),
            Error = reader.IsDBNull(13) ? null : new RunError(reader.GetString(13), reader.IsDBNull(14) ? "" : reader.GetString(14)),
        };
    }


    /// <summary>One queued write: runs inside the writer's transaction; its outcome is published after the commit.</summary>
    private sealed class WriteOp(Func<object?> run)
    {
        private const int Queued = 0, Taken = 1, Cancelled = 2;
        private object? _result;
        private Exception? _error;
        private int _state;

        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Reset()
        {
            _result = null;
            _error = null;
        }

        public void Run() => _result = run();

        /// <summary>The writer takes it for a transaction: false when it was cancelled while queued.</summary>
        public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Queued) == Queued;

        /// <summary>Cancels it unless the writer has taken it.</summary>
        public void TryCancel(CancellationToken token)
        {
            if (Interlocked.CompareExchange(ref _state, Cancelled, Queued) == Queued)
            {
                Completion.TrySetCanceled(token);
            }
        }

        public void Fail(Exception error) => _error = error;

        public void Finish()
        {
            if (_error is null)
            {
                Completion.TrySetResult(_result);
            }
            else
            {
                Completion.TrySetException(_error);
            }
        }
    }
}
