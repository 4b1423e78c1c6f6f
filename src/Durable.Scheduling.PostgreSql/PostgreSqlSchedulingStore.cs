using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// The PostgreSQL store: the <see cref="ISchedulingStore"/> operations as SQL, for any number of instances on one
/// database. Each call is one statement (or one batch) in its own transaction, on a pooled connection of an
/// <see cref="NpgsqlDataSource"/>; values travel only as parameters, lists as arrays.
/// </summary>
/// <remarks>
/// <para><b>Claims</b> lock the asked-for rows with <c>FOR UPDATE SKIP LOCKED</c>: instances claiming at once never
/// wait for each other, and a row one of them is claiming is simply not won by the other.</para>
/// <para><b>Leases</b> carry, besides the expiry the scheduler asked for (its clock), an expiry in the database's clock
/// (<c>clock_timestamp()</c> plus the lease's length at the claim, moved by as much as each renewal moves the
/// scheduler's). A lease is taken over only when both have passed: an instance whose clock runs ahead cannot take a
/// live lease from another.</para>
/// <para><b>Notifications</b>: inserts, reschedules and releases send a <c>NOTIFY</c> (in the same transaction, so only once
/// committed) that wakes the other instances (<see cref="IRunChangeNotifications"/>).</para>
/// </remarks>
internal sealed partial class PostgreSqlSchedulingStore : ISchedulingStore, IRunChangeNotifications, IAsyncDisposable, IDisposable
{
    private readonly PostgreSqlDatabase _db;
    private readonly NpgsqlDataSource _data;
    private readonly string _runs;
    private readonly string _watermarks;
    private readonly string _claimSql; // the per-batch statements of the claim/complete path, composed once
    private readonly string _completeSql;
    private readonly string _completeCountingSql;
    private readonly string _schedules;
    private readonly long _scheduleLock;
    private readonly long _planningLock;
    private readonly string _runScheduleLockPrefix; // with a schedule id, the key of the lock exclusive claims of its runs take

    public PostgreSqlSchedulingStore(NpgsqlDataSource dataSource, bool ownsDataSource, PostgreSqlSchedulingOptions options, TimeProvider time, ILogger? logger)
    {
        _db = new PostgreSqlDatabase(dataSource, ownsDataSource, options, time, logger);
        _data = dataSource;
        _runs = PostgreSqlSchema.Quote(options.Schema) + ".runs";
        _watermarks = PostgreSqlSchema.Quote(options.Schema) + ".watermarks";
        _schedules = PostgreSqlSchema.Quote(options.Schema) + ".schedules";
        _scheduleLock = PostgreSqlSchemaMigrator.LockKey(options.Schema + ":schedules");
        _planningLock = PostgreSqlSchemaMigrator.LockKey(options.Schema + ":planning");
        _runScheduleLockPrefix = options.Schema + ":runs-of:";
        _claimSql = $"""
            WITH wanted AS (
                SELECT w.id, w.token, w.ord FROM unnest(@ids, @tokens) WITH ORDINALITY AS w(id, token, ord)),
            locked AS (
                SELECT r.id, wanted.token, wanted.ord FROM {_runs} r JOIN wanted ON r.id = wanted.id
                WHERE (r.status = 0 AND r.due <= @now AND NOT (r.kind = {(int)RunKind.Occurrence} AND EXISTS (
                        SELECT 1 FROM {_schedules} s WHERE s.id = coalesce(r.schedule_id, r.workflow) AND (s.paused OR s.deleted))))
                   OR (r.status = 1 AND r.lease_expires <= @now AND r.lease_db_expires <= clock_timestamp())
                FOR UPDATE OF r SKIP LOCKED),
            claimed AS (
                UPDATE {_runs} r SET status = 1, lease_token = locked.token, lease_expires = @expires,
                    lease_db_expires = clock_timestamp() + @lease, lease_owner = @owner, attempt = r.attempt + 1, started = @now
                FROM locked WHERE r.id = locked.id
                RETURNING locked.ord, locked.token, {PostgreSqlSchema.RunColumnsOfR}),
            started AS (
                SELECT schedule, count(*) AS n
                FROM (SELECT coalesce(schedule_id, CASE WHEN kind = {(int)RunKind.Occurrence} THEN workflow END) AS schedule FROM claimed WHERE attempt = 1) f
                WHERE schedule IS NOT NULL GROUP BY schedule),
            {LockSchedulesInOrder("started", "schedule")},
            counted AS (
                UPDATE {_schedules} s SET runs = s.runs + x.n
                FROM started x JOIN ordered o ON o.id = x.schedule
                WHERE s.id = x.schedule)
            SELECT * FROM claimed
            """;
        _completeSql = $"""
            UPDATE {_runs} r SET status = c.status, completed = c.completed, error_type = c.type, error_message = c.message,
                lease_token = NULL, lease_expires = NULL, lease_db_expires = NULL, lease_owner = NULL
            FROM unnest(@ids, @tokens, @statuses, @completed, @types, @messages) WITH ORDINALITY AS c(id, token, status, completed, type, message, ord)
            WHERE r.id = c.id AND r.status = 1 AND r.lease_token = c.token
            RETURNING c.ord
            """;

        // With runs of schedules among them: their outcomes are counted on their schedules in the same statement.
        _completeCountingSql = $"""
            WITH done AS (
                UPDATE {_runs} r SET status = c.status, completed = c.completed, error_type = c.type, error_message = c.message,
                    lease_token = NULL, lease_expires = NULL, lease_db_expires = NULL, lease_owner = NULL
                FROM unnest(@ids, @tokens, @statuses, @completed, @types, @messages, @schedules) WITH ORDINALITY AS c(id, token, status, completed, type, message, schedule, ord)
                WHERE r.id = c.id AND r.status = 1 AND r.lease_token = c.token
                RETURNING c.ord, c.schedule, c.status),
            outcomes AS (
                SELECT schedule, count(*) FILTER (WHERE status = 2) AS ok, count(*) FILTER (WHERE status IN (3, 4)) AS bad
                FROM done WHERE schedule IS NOT NULL GROUP BY schedule),
            {LockSchedulesInOrder("outcomes", "schedule")},
            counted AS (
                UPDATE {_schedules} s SET succeeded = s.succeeded + x.ok, failed = s.failed + x.bad
                FROM outcomes x JOIN ordered o ON o.id = x.schedule
                WHERE s.id = x.schedule)
            SELECT ord FROM done
            """;
    }

    /// <summary>
    /// A CTE <c>ordered</c> that locks the live schedules named in <paramref name="source"/>'s <paramref name="column"/>
    /// in id order. Claims, completions and counts of several instances update the same schedules' counters at once;
    /// rows locked in one order by all of them cannot deadlock, as rows locked in join order could.
    /// </summary>
    private string LockSchedulesInOrder(string source, string column) =>
        $"ordered AS (SELECT s.id FROM {_schedules} s JOIN {source} x ON s.id = x.{column} WHERE NOT s.deleted ORDER BY s.id FOR UPDATE OF s)";

    /// <inheritdoc />
    public IDisposable Subscribe(Action<DateTimeOffset> changed) => _db.Subscribe(changed);

    // ---- writes -------------------------------------------------------------------------------------------------

    public async ValueTask<IReadOnlyList<InsertResult>> InsertAsync(IReadOnlyList<ScheduledRun> runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return [];
        }

        return await _db.RunAsync<IReadOnlyList<InsertResult>>("insert runs", async ct =>
        {
            int n = runs.Count;
            var ids = new Guid[n];
            var workflows = new string[n];
            var kinds = new short[n];
            var keys = new string[n];
            var scheduled = new long[n];
            var due = new long[n];
            var inputs = new string?[n];
            var metadata = new string?[n];
            var created = new long[n];
            var traces = new string?[n];
            var schedules = new string?[n];
            var overlaps = new short?[n];
            for (int i = 0; i < n; i++)
            {
                var run = runs[i];
                ids[i] = run.Id;
                workflows[i] = PostgreSqlRows.Encode(run.WorkflowName)!;
                kinds[i] = (short)run.Kind;
                keys[i] = PostgreSqlRows.Encode(run.IdempotencyKey)!;
                scheduled[i] = run.ScheduledTime.UtcTicks;
                due[i] = run.DueTime.UtcTicks;
                inputs[i] = PostgreSqlRows.Encode(run.Input);
                metadata[i] = PostgreSqlRows.MetadataJson(run);
                created[i] = run.CreatedAt.UtcTicks;
                traces[i] = PostgreSqlRows.Encode(run.TraceParent);
                schedules[i] = PostgreSqlRows.Encode(run.ScheduleId);
                overlaps[i] = run.Overlap is { } overlap ? (short)overlap : null;
            }

            var batch = _data.CreateBatch();

            await using var batchScope = batch.ConfigureAwait(false);
            var insert = new NpgsqlBatchCommand($"""
                INSERT INTO {_runs} (id, workflow, kind, idem_key, scheduled, due, status, attempt, input, metadata, created, trace_parent, schedule_id, overlap)
                SELECT u.id, u.workflow, u.kind, u.key, u.scheduled, u.due, 0, 0, u.input, u.metadata::jsonb, u.created, u.trace, u.schedule, u.overlap
                FROM unnest(@ids, @workflows, @kinds, @keys, @scheduled, @due, @inputs, @metadata, @created, @traces, @schedules, @overlaps)
                    WITH ORDINALITY AS u(id, workflow, kind, key, scheduled, due, input, metadata, created, trace, schedule, overlap, ord)
                ORDER BY u.ord
                ON CONFLICT (idem_key) DO NOTHING
                RETURNING id
                """);
            insert.Parameters.AddWithValue("ids", ids);
            insert.Parameters.AddWithValue("workflows", workflows);
            insert.Parameters.AddWithValue("kinds", kinds);
            insert.Parameters.AddWithValue("keys", keys);
            insert.Parameters.AddWithValue("scheduled", scheduled);
            insert.Parameters.AddWithValue("due", due);
            insert.Parameters.Add(new NpgsqlParameter("inputs", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = inputs });
            insert.Parameters.Add(new NpgsqlParameter("metadata", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = metadata });
            insert.Parameters.AddWithValue("created", created);
            insert.Parameters.Add(new NpgsqlParameter("traces", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = traces });
            insert.Parameters.Add(new NpgsqlParameter("schedules", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = schedules });
            insert.Parameters.Add(new NpgsqlParameter("overlaps", NpgsqlDbType.Array | NpgsqlDbType.Smallint) { Value = overlaps });
            batch.BatchCommands.Add(insert);
            _db.AddNotify(batch, due.Min());

            var inserted = new HashSet<Guid>();
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    inserted.Add(reader.GetGuid(0));
                }
            }

            var results = new InsertResult[n];
            List<int>? existing = null;
            for (int i = 0; i < n; i++)
            {
                if (inserted.Remove(runs[i].Id))
                {
                    results[i] = new InsertResult(runs[i] with { Status = RunStatus.Pending, Attempt = 0 }, true);
                }
                else
                {
                    (existing ??= []).Add(i);
                }
            }

            if (existing is not null)
            {
                var stored = await ByKeysAsync([.. existing.Select(i => keys[i]).Distinct()], ct).ConfigureAwait(false);
                foreach (int i in existing)
                {
                    results[i] = stored.TryGetValue(runs[i].IdempotencyKey, out var run)
                        ? new InsertResult(run, false)
                        : throw new InvalidOperationException($"Run {runs[i].Id} conflicts with a stored run on its id but not on its idempotency key.");
                }
            }

            return results;
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Dictionary<string, ScheduledRun>> ByKeysAsync(string[] keys, CancellationToken ct)
    {
        var command = _data.CreateCommand($"SELECT {PostgreSqlSchema.RunColumns} FROM {_runs} WHERE idem_key = ANY(@keys)");
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("keys", keys);
        var runs = new Dictionary<string, ScheduledRun>(StringComparer.Ordinal);
        var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var run = PostgreSqlRows.ReadRun(reader);
            runs[run.IdempotencyKey] = run;
        }

        return runs;
    }

    public async ValueTask<IReadOnlyList<RunRefusal>> DeleteAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return await _db.RunAsync<IReadOnlyList<RunRefusal>>("delete runs", async ct =>
        {
            var all = ids.ToArray();
            var deleted = new HashSet<Guid>();
            var delete = _data.CreateCommand($"DELETE FROM {_runs} WHERE id = ANY(@ids) AND status <> 1 RETURNING id");
            await using (delete.ConfigureAwait(false))
            {
                delete.Parameters.AddWithValue("ids", all);
                var reader = await delete.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    deleted.Add(reader.GetGuid(0));
                }
            }

            var refusedIds = all.Where(id => !deleted.Contains(id)).Distinct().ToArray();
            if (refusedIds.Length == 0)
            {
                return [];
            }

            var statuses = await StatusesAsync(refusedIds, ct).ConfigureAwait(false);
            return [.. refusedIds.Select(id => new RunRefusal(id, statuses.TryGetValue(id, out var s) ? s : null))];
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Dictionary<Guid, RunStatus>> StatusesAsync(Guid[] ids, CancellationToken ct, NpgsqlConnection? connection = null, NpgsqlTransaction? transaction = null, bool lockRows = false)
    {
        string sql = $"SELECT id, status FROM {_runs} WHERE id = ANY(@ids)" + (lockRows ? " FOR UPDATE" : "");
        var command = connection is null ? _data.CreateCommand(sql) : new NpgsqlCommand(sql, connection, transaction);
        await using var commandScope = command.ConfigureAwait(false);
        command.Parameters.AddWithValue("ids", ids);
        var statuses = new Dictionary<Guid, RunStatus>();
        var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await using var readerScope = reader.ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            statuses[reader.GetGuid(0)] = (RunStatus)reader.GetInt16(1);
        }

        return statuses;
    }

    public async ValueTask<IReadOnlyList<Guid>> DeleteAsync(RunQuery filter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return await _db.RunAsync<IReadOnlyList<Guid>>("delete runs", async ct =>
        {
            var command = _data.CreateCommand();
            await using var commandScope = command.ConfigureAwait(false);
            string where = PostgreSqlRows.Where(command, filter with { ContinuationToken = null });
            command.CommandText = $"DELETE FROM {_runs} WHERE {where} AND status <> 1 RETURNING id";
            var deleted = new List<Guid>();
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                deleted.Add(reader.GetGuid(0));
            }

            return deleted;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<ScheduledRun>> RescheduleAsync(IReadOnlyList<RunTimeChange> changes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        return await _db.RunAsync<IReadOnlyList<ScheduledRun>>("reschedule runs", async ct =>
        {
            var ids = changes.Select(c => c.Id).ToArray();
            var connection = await _data.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var connectionScope = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);
            var statuses = await StatusesAsync(ids, ct, connection, transaction, lockRows: true).ConfigureAwait(false);
            var refused = ids.Distinct()
                .Where(id => !statuses.TryGetValue(id, out var s) || s != RunStatus.Pending)
                .Select(id => new RunRefusal(id, statuses.TryGetValue(id, out var s) ? s : null))
                .ToList();
            if (refused.Count > 0)
            {
                throw new ScheduledRunStateException(refused, "reschedule");
            }

            var result = new Dictionary<Guid, ScheduledRun>();
            var update = new NpgsqlCommand($"""
                UPDATE {_runs} r SET scheduled = c.time, due = c.time
                FROM unnest(@ids, @times) AS c(id, time)
                WHERE r.id = c.id
                RETURNING {PostgreSqlSchema.RunColumnsOfR}
                """, connection, transaction);
            await using (update.ConfigureAwait(false))
            {
                update.Parameters.AddWithValue("ids", ids);
                update.Parameters.AddWithValue("times", changes.Select(c => c.RunAt.UtcTicks).ToArray());
                var reader = await update.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using var readerScope = reader.ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var run = PostgreSqlRows.ReadRun(reader);
                    result[run.Id] = run;
                }
            }

            await _db.NotifyAsync(connection, transaction, changes.Min(c => c.RunAt.UtcTicks), ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return [.. ids.Select(id => result[id])];
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<Guid>> SkipPendingAsync(IReadOnlyList<Guid> ids, DateTimeOffset at, RunError reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(reason);
        return await _db.RunAsync<IReadOnlyList<Guid>>("skip runs", async ct =>
        {
            var skip = _data.CreateCommand($"""
                UPDATE {_runs} SET status = 5, completed = @at, error_type = @type, error_message = @message
                WHERE id = ANY(@ids) AND status = 0
                RETURNING id
                """);
            await using var skipScope = skip.ConfigureAwait(false);
            skip.Parameters.AddWithValue("ids", ids.ToArray());
            skip.Parameters.AddWithValue("at", at.UtcTicks);
            skip.Parameters.AddWithValue("type", PostgreSqlRows.Encode(reason.Type)!);
            skip.Parameters.AddWithValue("message", PostgreSqlRows.Encode(reason.Message)!);
            var skipped = new HashSet<Guid>();
            var reader = await skip.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                skipped.Add(reader.GetGuid(0));
            }

            return [.. ids.Where(skipped.Remove)];
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask AdvanceWatermarkAsync(string schedule, DateTimeOffset value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        await AdvanceWatermarksAsync([KeyValuePair.Create(schedule, value)], cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken) =>
        await _db.RunAsync("purge ended runs", async ct =>
        {
            // Deleted schedules are forgotten too, except the one holding the highest sequence (the next one follows it).
            var purge = _data.CreateCommand($"""
                WITH forgotten AS (
                    DELETE FROM {_schedules} WHERE deleted AND updated < @before AND seq < (SELECT max(seq) FROM {_schedules}))
                DELETE FROM {_runs} WHERE id IN (SELECT id FROM {_runs} WHERE status >= 2 AND completed < @before LIMIT @limit)
                """);
            await using var purgeScope = purge.ConfigureAwait(false);
            purge.Parameters.AddWithValue("before", endedBefore.UtcTicks);
            purge.Parameters.AddWithValue("limit", limit);
            return await purge.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);

    public ValueTask DisposeAsync() => _db.DisposeAsync();

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
