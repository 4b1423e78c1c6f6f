using System.Text;
using Durable.Scheduling.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// The recurring schedules' operations of the PostgreSQL store. Writes that hand out a change sequence take a
/// transaction-scoped advisory lock first, so sequences are given in commit order (a reader never sees a later one
/// before an earlier one); schedule writes are rare, so serializing them costs nothing that matters.
/// </summary>
internal sealed partial class PostgreSqlSchedulingStore
{
    public async ValueTask<bool> CreateScheduleAsync(StoredSchedule schedule, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return await SequencedAsync("create a schedule", $"""
            INSERT INTO {_schedules} AS s (id, workflow, definition, metadata, paused, note, code_defined, created, updated, spec_since, version, seq, deleted, remaining)
            VALUES (@id, @workflow, @definition, @metadata::jsonb, @paused, @note, @code, @created, @updated, @since, 1, {NextSequence}, false, @remaining)
            ON CONFLICT (id) DO UPDATE SET workflow = excluded.workflow, definition = excluded.definition, metadata = excluded.metadata,
                paused = excluded.paused, note = excluded.note, code_defined = excluded.code_defined, created = excluded.created,
                updated = excluded.updated, spec_since = excluded.spec_since, version = 1, seq = excluded.seq, deleted = false,
                remaining = excluded.remaining, runs = 0, succeeded = 0, failed = 0, missed = 0, skipped = 0, dropped = 0
            WHERE s.deleted
            """, command =>
        {
            BindSchedule(command, schedule);
        }, cancellationToken).ConfigureAwait(false) == 1;
    }

    public async ValueTask<StoredSchedule?> GetScheduleAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        var found = await ReadSchedulesAsync("read a schedule", $"SELECT {PostgreSqlSchema.ScheduleColumns} FROM {_schedules} WHERE id = @id AND NOT deleted",
            command => command.Parameters.AddWithValue("id", PostgreSqlRows.Encode(id)!), cancellationToken).ConfigureAwait(false);
        return found.Count == 0 ? null : found[0];
    }

    public async ValueTask<StoredSchedulePage> ListSchedulesAsync(ScheduleQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        int size = Math.Clamp(query.PageSize, 1, 1000);
        var filters = new StringBuilder("NOT deleted");
        if (query.Paused is { } paused)
        {
            filters.Append(paused ? " AND paused" : " AND NOT paused");
        }

        filters.Append(query.WorkflowName is null ? "" : " AND workflow = @workflow");
        filters.Append(query.Metadata is { Count: > 0 } ? " AND metadata @> @metadata" : "");

        // Ids compare in the "C" collation: ordinal, as the contract orders them, whatever the database's collation.
        // The ids with a prefix lie together from the prefix on: the list starts there, and the first row past them
        // (returned whatever the filters say) ends it, rather than reading on to the last schedule.
        string? prefix = query.IdPrefix is { Length: > 0 } p ? p : null;
        string where = prefix is null ? filters.ToString() : $"id COLLATE \"C\" >= @prefix AND (NOT starts_with(id, @prefix) OR ({filters}))";
        where += query.ContinuationToken is null ? "" : " AND id COLLATE \"C\" > @after";
        var items = await ReadSchedulesAsync("list schedules",
            $"SELECT {PostgreSqlSchema.ScheduleColumns} FROM {_schedules} WHERE {where} ORDER BY id COLLATE \"C\" LIMIT {size + 1}",
            command =>
            {
                if (query.WorkflowName is not null)
                {
                    command.Parameters.AddWithValue("workflow", PostgreSqlRows.Encode(query.WorkflowName)!);
                }

                if (prefix is not null)
                {
                    command.Parameters.AddWithValue("prefix", PostgreSqlRows.Encode(prefix)!);
                }

                if (query.Metadata is { Count: > 0 } metadata)
                {
                    command.Parameters.Add(new NpgsqlParameter("metadata", NpgsqlDbType.Jsonb) { Value = PostgreSqlRows.MetadataJson(metadata) });
                }

                if (query.ContinuationToken is { } after)
                {
                    command.Parameters.AddWithValue("after", PostgreSqlRows.Encode(after)!);
                }
            }, cancellationToken).ConfigureAwait(false);
        return StoredSchedulePage.FromRows(items, size, prefix);
    }

    public async ValueTask<IReadOnlyList<StoredSchedule>> GetScheduleChangesAsync(long afterSequence, int limit, CancellationToken cancellationToken) =>
        await ReadSchedulesAsync("read schedule changes", $"SELECT {PostgreSqlSchema.ScheduleColumns} FROM {_schedules} WHERE seq > @after ORDER BY seq LIMIT @limit",
            command =>
            {
                command.Parameters.AddWithValue("after", afterSequence);
                command.Parameters.AddWithValue("limit", limit);
            }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> UpdateScheduleAsync(StoredSchedule schedule, long expectedVersion, bool setRemainingRuns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return await SequencedAsync("update a schedule", $"""
            WITH old_spec AS ({DeleteSpecWatermark(" AND version = @version AND spec_since <> @since")})
            UPDATE {_schedules} SET workflow = @workflow, definition = @definition, metadata = @metadata::jsonb, paused = @paused,
                note = @note, code_defined = @code, updated = @updated, spec_since = @since,
                remaining = CASE WHEN @setRemaining THEN @remaining ELSE remaining END,
                version = version + 1, seq = {NextSequence}
            WHERE id = @id AND NOT deleted AND version = @version
            """, command =>
        {
            BindSchedule(command, schedule);
            command.Parameters.AddWithValue("setRemaining", setRemainingRuns);
            command.Parameters.AddWithValue("version", expectedVersion);
        }, cancellationToken).ConfigureAwait(false) == 1;
    }

    public async ValueTask<bool> DeleteScheduleAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return await SequencedAsync("delete a schedule", $"""
            WITH spec AS ({DeleteSpecWatermark("")})
            UPDATE {_schedules} SET deleted = true, updated = @at, version = version + 1, seq = {NextSequence}
            WHERE id = @id AND NOT deleted
            """, command =>
        {
            command.Parameters.AddWithValue("id", PostgreSqlRows.Encode(id)!);
            command.Parameters.AddWithValue("at", at.UtcTicks);
        }, cancellationToken).ConfigureAwait(false) == 1;
    }

    public async ValueTask AddScheduleCountsAsync(IReadOnlyList<ScheduleCountChange> changes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (changes.Count == 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return;
        }

        // One row per schedule (an UPDATE ... FROM joins each target row once), summed here.
        var sums = changes.GroupBy(c => c.ScheduleId, StringComparer.Ordinal).Select(g => (Id: g.Key,
            Counters: g.Aggregate(new ScheduleCounters(), (sum, c) => sum.Add(c.Delta)), Used: g.Sum(c => c.UsedRuns))).ToList();
        await _db.RunAsync("count schedules' runs", async ct =>
        {
            var add = _data.CreateCommand($"""
                WITH c AS (
                    SELECT * FROM unnest(@ids, @runs, @succeeded, @failed, @missed, @skipped, @dropped, @used) AS c(id, runs, succeeded, failed, missed, skipped, dropped, used)),
                {LockSchedulesInOrder("c", "id")}
                UPDATE {_schedules} s SET runs = s.runs + c.runs, succeeded = s.succeeded + c.succeeded, failed = s.failed + c.failed,
                    missed = s.missed + c.missed, skipped = s.skipped + c.skipped, dropped = s.dropped + c.dropped,
                    remaining = CASE WHEN s.remaining IS NULL THEN NULL ELSE greatest(0, s.remaining - c.used) END
                FROM c JOIN ordered o ON o.id = c.id
                WHERE s.id = c.id
                """);
            await using var addScope = add.ConfigureAwait(false);
            add.Parameters.AddWithValue("ids", sums.Select(s => PostgreSqlRows.Encode(s.Id)!).ToArray());
            add.Parameters.AddWithValue("runs", sums.Select(s => s.Counters.Runs).ToArray());
            add.Parameters.AddWithValue("succeeded", sums.Select(s => s.Counters.Succeeded).ToArray());
            add.Parameters.AddWithValue("failed", sums.Select(s => s.Counters.Failed).ToArray());
            add.Parameters.AddWithValue("missed", sums.Select(s => s.Counters.Missed).ToArray());
            add.Parameters.AddWithValue("skipped", sums.Select(s => s.Counters.Skipped).ToArray());
            add.Parameters.AddWithValue("dropped", sums.Select(s => s.Counters.Dropped).ToArray());
            add.Parameters.AddWithValue("used", sums.Select(s => s.Used).ToArray());
            return await add.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyDictionary<string, DateTimeOffset>> GetWatermarksAsync(IReadOnlyCollection<string> schedules, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedules);
        return await _db.RunAsync<IReadOnlyDictionary<string, DateTimeOffset>>("read watermarks", async ct =>
        {
            var command = _data.CreateCommand($"SELECT schedule, value FROM {_watermarks} WHERE schedule = ANY(@names)");
            await using var commandScope = command.ConfigureAwait(false);
            command.Parameters.AddWithValue("names", schedules.Select(s => PostgreSqlRows.Encode(s)!).ToArray());
            var found = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                found[PostgreSqlRows.Decode(reader.GetString(0))!] = PostgreSqlRows.Instant(reader.GetInt64(1));
            }

            return found;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask AdvanceWatermarksAsync(IReadOnlyList<KeyValuePair<string, DateTimeOffset>> values, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return;
        }

        // In name order: instances advancing the same watermarks lock their rows in the same order (no deadlock).
        var latest = values.GroupBy(v => v.Key, StringComparer.Ordinal).Select(g => (Name: g.Key, Ticks: g.Max(v => v.Value.UtcTicks)))
            .OrderBy(l => l.Name, StringComparer.Ordinal).ToList();
        var ids = new string?[latest.Count];
        var since = new long[latest.Count];
        for (int i = 0; i < latest.Count; i++)
        {
            if (WatermarkNames.TryParseSpec(latest[i].Name, out ReadOnlySpan<char> id, out var specSince))
            {
                ids[i] = PostgreSqlRows.Encode(id.ToString());
                since[i] = specSince.UtcTicks;
            }
        }

        await _db.RunAsync("advance watermarks", async ct =>
        {
            // A spec's watermark only while that spec is its schedule's current one. The schedules' lock, shared, keeps a
            // schedule write (which takes it alone) from committing between the check and the write: the insert runs
            // after the lock, so its snapshot sees every such write committed before.
            var batch = _data.CreateBatch();
            await using var batchScope = batch.ConfigureAwait(false);
            var share = new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock_shared(@key)");
            share.Parameters.AddWithValue("key", _scheduleLock);
            batch.BatchCommands.Add(share);
            var upsert = new NpgsqlBatchCommand($"""
                INSERT INTO {_watermarks} AS w (schedule, value)
                SELECT v.name, v.value FROM unnest(@names, @values, @ids, @since) AS v(name, value, id, since)
                WHERE v.id IS NULL OR EXISTS (SELECT 1 FROM {_schedules} s WHERE s.id = v.id AND NOT s.deleted AND s.spec_since = v.since)
                ON CONFLICT (schedule) DO UPDATE SET value = greatest(w.value, excluded.value)
                """);
            upsert.Parameters.AddWithValue("names", latest.Select(l => PostgreSqlRows.Encode(l.Name)!).ToArray());
            upsert.Parameters.AddWithValue("values", latest.Select(l => l.Ticks).ToArray());
            upsert.Parameters.Add(new NpgsqlParameter("ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = ids });
            upsert.Parameters.AddWithValue("since", since);
            batch.BatchCommands.Add(upsert);
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            return reader.RecordsAffected;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A statement deleting the watermark of a schedule's current spec (its name as <see cref="WatermarkNames.OfSpec"/>
    /// makes it), as a data-modifying CTE of a schedule write: it reads the row as it was before that write.
    /// </summary>
    private string DeleteSpecWatermark(string condition) =>
        $"DELETE FROM {_watermarks} WHERE schedule = (SELECT id || '~' || spec_since FROM {_schedules} WHERE id = @id AND NOT deleted{condition})";

    private string NextSequence => $"(SELECT coalesce(max(seq), 0) + 1 FROM {_schedules})";

    /// <summary>Runs a write that hands out a sequence, after the schedules' advisory lock, in one transaction.</summary>
    private async Task<int> SequencedAsync(string action, string sql, Action<NpgsqlCommand> bind, CancellationToken cancellationToken) =>
        await _db.RunAsync(action, async ct =>
        {
            var connection = await _data.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var connectionScope = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);
            var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock(@key)", connection, transaction);
            await using (lockCommand.ConfigureAwait(false))
            {
                lockCommand.Parameters.AddWithValue("key", _scheduleLock);
                await lockCommand.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            var command = new NpgsqlCommand(sql, connection, transaction);
            await using var commandScope = command.ConfigureAwait(false);
            bind(command);
            int changed = await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return changed;
        }, cancellationToken).ConfigureAwait(false);

    private async Task<List<StoredSchedule>> ReadSchedulesAsync(string action, string sql, Action<NpgsqlCommand> bind, CancellationToken cancellationToken) =>
        await _db.RunAsync(action, async ct =>
        {
            var command = _data.CreateCommand(sql);
            await using var commandScope = command.ConfigureAwait(false);
            bind(command);
            var items = new List<StoredSchedule>();
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                items.Add(PostgreSqlRows.ReadSchedule(reader));
            }

            return items;
        }, cancellationToken).ConfigureAwait(false);

    private static void BindSchedule(NpgsqlCommand command, StoredSchedule schedule)
    {
        command.Parameters.AddWithValue("id", PostgreSqlRows.Encode(schedule.Id)!);
        command.Parameters.AddWithValue("workflow", PostgreSqlRows.Encode(schedule.WorkflowName)!);
        command.Parameters.AddWithValue("definition", PostgreSqlRows.Encode(schedule.Definition)!);
        command.Parameters.Add(new NpgsqlParameter("metadata", NpgsqlDbType.Text) { Value = schedule.Metadata.Count == 0 ? DBNull.Value : PostgreSqlRows.MetadataJson(schedule.Metadata) });
        command.Parameters.AddWithValue("paused", schedule.Paused);
        command.Parameters.Add(new NpgsqlParameter("note", NpgsqlDbType.Text) { Value = (object?)PostgreSqlRows.Encode(schedule.Note) ?? DBNull.Value });
        command.Parameters.AddWithValue("code", schedule.CodeDefined);
        command.Parameters.AddWithValue("created", schedule.CreatedAt.UtcTicks);
        command.Parameters.AddWithValue("updated", schedule.UpdatedAt.UtcTicks);
        command.Parameters.AddWithValue("since", schedule.SpecSince.UtcTicks);
        command.Parameters.Add(new NpgsqlParameter("remaining", NpgsqlDbType.Bigint) { Value = (object?)schedule.RemainingRuns ?? DBNull.Value });
    }
}
