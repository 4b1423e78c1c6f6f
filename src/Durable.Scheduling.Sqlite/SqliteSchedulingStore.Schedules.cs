using System.Globalization;
using System.Text;
using System.Text.Json;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Sqlite;

/// <summary>The recurring schedules' operations of the SQLite store (writes through the writer, so sequences follow commit order).</summary>
internal sealed partial class SqliteSchedulingStore
{
    private const string NextSequence = "(SELECT coalesce(max(seq), 0) + 1 FROM ds_schedules)";

    public async ValueTask<bool> CreateScheduleAsync(StoredSchedule schedule, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return await WriteAsync(() =>
        {
            var insert = Command($"""
                INSERT INTO ds_schedules (id, workflow, definition, metadata, paused, note, code_defined, created, updated, spec_since, version, seq, deleted, remaining)
                VALUES ($id, $workflow, $definition, $metadata, $paused, CAST($note AS TEXT), $code, $created, $updated, $since, 1, {NextSequence}, 0, $remaining)
                ON CONFLICT (id) DO UPDATE SET workflow = excluded.workflow, definition = excluded.definition, metadata = excluded.metadata,
                    paused = excluded.paused, note = excluded.note, code_defined = excluded.code_defined, created = excluded.created,
                    updated = excluded.updated, spec_since = excluded.spec_since, version = 1, seq = excluded.seq, deleted = 0,
                    remaining = excluded.remaining, runs = 0, succeeded = 0, failed = 0, missed = 0, skipped = 0, dropped = 0
                WHERE deleted = 1
                """);
            BindSchedule(insert, schedule);
            SqliteRows.Bind(insert, "$created", schedule.CreatedAt.UtcTicks);
            return insert.ExecuteNonQuery() == 1;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<StoredSchedule?> GetScheduleAsync(string id, CancellationToken cancellationToken) =>
        await ReadAsync(connection =>
        {
            var command = SqliteReaderPool.Prepared(connection, $"SELECT {SqliteSchema.ScheduleColumns} FROM ds_schedules WHERE id = $id AND deleted = 0");
            SqliteRows.Bind(command, "$id", id);
            using var reader = command.ExecuteReader();
            return reader.Read() ? SqliteRows.ReadSchedule(reader) : null;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<StoredSchedulePage> ListSchedulesAsync(ScheduleQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return await ReadAsync(connection =>
        {
            using var command = connection.CreateCommand();
            var where = new StringBuilder("deleted = 0");
            if (query.Paused is { } paused)
            {
                where.Append(paused ? " AND paused = 1" : " AND paused = 0");
            }

            if (query.WorkflowName is not null)
            {
                where.Append(" AND workflow = $workflow");
                command.Parameters.AddWithValue("$workflow", query.WorkflowName);
            }

            int i = 0;
            foreach (var (key, value) in query.Metadata ?? new Dictionary<string, string>())
            {
                where.Append(CultureInfo.InvariantCulture, $" AND EXISTS (SELECT 1 FROM json_each(ds_schedules.metadata) j WHERE j.key = CAST($mk{i} AS TEXT) AND j.value = CAST($mv{i} AS TEXT))");
                command.Parameters.AddWithValue($"$mk{i}", SqliteRows.Text(key));
                command.Parameters.AddWithValue($"$mv{i}", SqliteRows.Text(value));
                i++;
            }

            // The ids with a prefix lie together from the prefix on: the list seeks there, and the first row past them
            // (returned whatever the filters say) ends it, rather than reading on to the last schedule.
            string? prefix = query.IdPrefix is { Length: > 0 } p ? p : null;
            if (prefix is not null)
            {
                where.Insert(0, "id >= $prefix AND (substr(id, 1, length($prefix)) <> $prefix OR (").Append("))");
                command.Parameters.AddWithValue("$prefix", prefix);
            }

            if (query.ContinuationToken is not null)
            {
                where.Append(" AND id > $after");
                command.Parameters.AddWithValue("$after", query.ContinuationToken);
            }

            int size = Math.Clamp(query.PageSize, 1, 1000);
            command.CommandText = $"SELECT {SqliteSchema.ScheduleColumns} FROM ds_schedules WHERE {where} ORDER BY id LIMIT {size + 1}";
            var items = new List<StoredSchedule>(size + 1);
            using (var reader = command.ExecuteReader())
            {
                while (reader.Read())
                {
                    items.Add(SqliteRows.ReadSchedule(reader));
                }
            }

            return StoredSchedulePage.FromRows(items, size, prefix);
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<StoredSchedule>> GetScheduleChangesAsync(long afterSequence, int limit, CancellationToken cancellationToken) =>
        await ReadAsync<IReadOnlyList<StoredSchedule>>(connection =>
        {
            var command = SqliteReaderPool.Prepared(connection, $"SELECT {SqliteSchema.ScheduleColumns} FROM ds_schedules WHERE seq > $after ORDER BY seq LIMIT $limit");
            SqliteRows.Bind(command, "$after", afterSequence);
            SqliteRows.Bind(command, "$limit", limit);
            var items = new List<StoredSchedule>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                items.Add(SqliteRows.ReadSchedule(reader));
            }

            return items;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> UpdateScheduleAsync(StoredSchedule schedule, long expectedVersion, bool setRemainingRuns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return await WriteAsync(() =>
        {
            var update = Command($"""
                UPDATE ds_schedules SET workflow = $workflow, definition = $definition, metadata = $metadata, paused = $paused,
                    note = CAST($note AS TEXT), code_defined = $code, updated = $updated, spec_since = $since,
                    remaining = CASE WHEN $setRemaining = 1 THEN $remaining ELSE remaining END,
                    version = version + 1, seq = {NextSequence}
                WHERE id = $id AND deleted = 0 AND version = $version
                """);
            DeleteSpecWatermark(schedule.Id, expectedVersion, schedule.SpecSince.UtcTicks); // a new spec starts afresh
            BindSchedule(update, schedule);
            SqliteRows.Bind(update, "$setRemaining", setRemainingRuns ? 1 : 0);
            SqliteRows.Bind(update, "$version", expectedVersion);
            return update.ExecuteNonQuery() == 1;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteScheduleAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            DeleteSpecWatermark(id);
            var delete = Command($"UPDATE ds_schedules SET deleted = 1, updated = $at, version = version + 1, seq = {NextSequence} WHERE id = $id AND deleted = 0");
            SqliteRows.Bind(delete, "$id", id);
            SqliteRows.Bind(delete, "$at", at.UtcTicks);
            return delete.ExecuteNonQuery() == 1;
        }, cancellationToken).ConfigureAwait(false);

    public ValueTask<IAsyncDisposable> EnterPlanningAsync(CancellationToken cancellationToken) =>
        SqlitePlanningLock.EnterAsync(_file.Path, cancellationToken);

    public async ValueTask AddScheduleCountsAsync(IReadOnlyList<ScheduleCountChange> changes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        await WriteAsync(() =>
        {
            var add = Command("""
                UPDATE ds_schedules SET runs = runs + $runs, succeeded = succeeded + $succeeded, failed = failed + $failed,
                    missed = missed + $missed, skipped = skipped + $skipped, dropped = dropped + $dropped,
                    remaining = CASE WHEN remaining IS NULL THEN NULL ELSE max(0, remaining - $used) END
                WHERE id = $id AND deleted = 0
                """);
            foreach (var change in changes)
            {
                SqliteRows.Bind(add, "$id", change.ScheduleId);
                SqliteRows.Bind(add, "$runs", change.Delta.Runs);
                SqliteRows.Bind(add, "$succeeded", change.Delta.Succeeded);
                SqliteRows.Bind(add, "$failed", change.Delta.Failed);
                SqliteRows.Bind(add, "$missed", change.Delta.Missed);
                SqliteRows.Bind(add, "$skipped", change.Delta.Skipped);
                SqliteRows.Bind(add, "$dropped", change.Delta.Dropped);
                SqliteRows.Bind(add, "$used", change.UsedRuns);
                add.ExecuteNonQuery();
            }

            return changes.Count;
        }, cancellationToken, items: changes.Count).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyDictionary<string, DateTimeOffset>> GetWatermarksAsync(IReadOnlyCollection<string> schedules, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedules);
        return await ReadAsync<IReadOnlyDictionary<string, DateTimeOffset>>(connection =>
        {
            var command = SqliteReaderPool.Prepared(connection, "SELECT schedule, value FROM ds_watermarks WHERE schedule IN (SELECT value FROM json_each($names))");
            SqliteRows.Bind(command, "$names", JsonSerializer.Serialize(schedules));
            var found = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                found[reader.GetString(0)] = new DateTimeOffset(reader.GetInt64(1), TimeSpan.Zero);
            }

            return found;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask AdvanceWatermarksAsync(IReadOnlyList<KeyValuePair<string, DateTimeOffset>> values, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(values);
        await WriteAsync(() =>
        {
            foreach (var (schedule, value) in values)
            {
                Advance(schedule, value);
            }

            return values.Count;
        }, cancellationToken, items: values.Count).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves a watermark forward, inside a write. A spec's watermark only while that spec is its schedule's current one
    /// (the check and the write are one statement of the one writer).
    /// </summary>
    private void Advance(string schedule, DateTimeOffset value)
    {
        var upsert = Command("""
            INSERT INTO ds_watermarks (schedule, value)
            SELECT $schedule, $value
            WHERE $id IS NULL OR EXISTS (SELECT 1 FROM ds_schedules WHERE id = $id AND deleted = 0 AND spec_since = $since)
            ON CONFLICT (schedule) DO UPDATE SET value = max(value, excluded.value)
            """);
        bool spec = WatermarkNames.TryParseSpec(schedule, out ReadOnlySpan<char> id, out var since);
        SqliteRows.Bind(upsert, "$schedule", schedule);
        SqliteRows.Bind(upsert, "$value", value.UtcTicks);
        SqliteRows.Bind(upsert, "$id", spec ? id.ToString() : null);
        SqliteRows.Bind(upsert, "$since", since.UtcTicks);
        upsert.ExecuteNonQuery();
    }

    /// <summary>
    /// Deletes the watermark of a schedule's current spec (its name as <see cref="WatermarkNames.OfSpec"/> makes it),
    /// inside a write: before a delete, or an update at <paramref name="version"/> that changes the spec.
    /// </summary>
    private void DeleteSpecWatermark(string id, long? version = null, long? newSpecSince = null)
    {
        var delete = Command("""
            DELETE FROM ds_watermarks WHERE schedule = (
                SELECT id || '~' || spec_since FROM ds_schedules
                WHERE id = $id AND deleted = 0 AND ($version IS NULL OR version = $version) AND ($since IS NULL OR spec_since <> $since))
            """);
        SqliteRows.Bind(delete, "$id", id);
        SqliteRows.Bind(delete, "$version", version);
        SqliteRows.Bind(delete, "$since", newSpecSince);
        delete.ExecuteNonQuery();
    }

    /// <summary>Binds the fields a create and an update both write.</summary>
    private static void BindSchedule(Microsoft.Data.Sqlite.SqliteCommand command, StoredSchedule schedule)
    {
        SqliteRows.Bind(command, "$id", schedule.Id);
        SqliteRows.Bind(command, "$workflow", schedule.WorkflowName);
        SqliteRows.Bind(command, "$definition", schedule.Definition);
        SqliteRows.Bind(command, "$metadata", schedule.Metadata.Count == 0 ? null : JsonSerializer.Serialize(schedule.Metadata));
        SqliteRows.Bind(command, "$paused", schedule.Paused ? 1 : 0);
        SqliteRows.Bind(command, "$note", SqliteRows.Text(schedule.Note));
        SqliteRows.Bind(command, "$code", schedule.CodeDefined ? 1 : 0);
        SqliteRows.Bind(command, "$updated", schedule.UpdatedAt.UtcTicks);
        SqliteRows.Bind(command, "$since", schedule.SpecSince.UtcTicks);
        SqliteRows.Bind(command, "$remaining", schedule.RemainingRuns);
    }
}
