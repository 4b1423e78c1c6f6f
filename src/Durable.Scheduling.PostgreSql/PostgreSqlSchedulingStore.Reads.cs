using Durable.Scheduling.Storage;
using Npgsql;

namespace Durable.Scheduling.PostgreSql;

/// <summary>The reads of the PostgreSQL store: single runs, filtered lists, due runs, expired leases, watermarks.</summary>
internal sealed partial class PostgreSqlSchedulingStore
{
    public async ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken) =>
        await _db.RunAsync("read a run", async ct =>
        {
            var command = _data.CreateCommand($"SELECT {PostgreSqlSchema.RunColumns} FROM {_runs} WHERE id = @id");
            await using var commandScope = command.ConfigureAwait(false);
            command.Parameters.AddWithValue("id", id);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false) ? PostgreSqlRows.ReadRun(reader) : null;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        return await _db.RunAsync("list runs", async ct =>
        {
            var command = _data.CreateCommand();
            await using var commandScope = command.ConfigureAwait(false);
            string where = PostgreSqlRows.Where(command, query);
            int size = Math.Clamp(query.PageSize, 1, 1000);
            string columns = query.IncludeInput ? PostgreSqlSchema.RunColumns : PostgreSqlSchema.RunColumnsWithoutInput; // inputs can be large
            command.CommandText = $"SELECT {columns} FROM {_runs} WHERE {where} ORDER BY scheduled, id LIMIT {size + 1}";
            var items = new List<ScheduledRun>(size + 1);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    items.Add(PostgreSqlRows.ReadRun(reader));
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
    }

    public async ValueTask<DuePage> GetDueAsync(DateTimeOffset until, int limit, string? continuation, CancellationToken cancellationToken)
    {
        (long afterDue, Guid afterId) = ContinuationTokens.Decode(continuation);
        return await _db.RunAsync("read due runs", async ct =>
        {
            var command = _data.CreateCommand($"""
                SELECT id, workflow, kind, due, schedule_id, overlap FROM {_runs}
                WHERE status = 0 AND due <= @until AND (due, id) > (@afterDue, @afterId)
                ORDER BY due, id LIMIT @limit
                """);
            await using var commandScope = command.ConfigureAwait(false);
            command.Parameters.AddWithValue("until", until.UtcTicks);
            command.Parameters.AddWithValue("afterDue", afterDue);
            command.Parameters.AddWithValue("afterId", afterId);
            command.Parameters.AddWithValue("limit", limit);
            var runs = new List<DueRun>();
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                runs.Add(new DueRun(
                    reader.GetGuid(0), PostgreSqlRows.Decode(reader.GetString(1))!, (RunKind)reader.GetInt16(2), PostgreSqlRows.Instant(reader.GetInt64(3)),
                    reader.IsDBNull(4) ? null : PostgreSqlRows.Decode(reader.GetString(4)), reader.IsDBNull(5) ? null : (OverlapPolicy)reader.GetInt16(5)));
            }

            string? token = runs.Count < limit ? null : ContinuationTokens.Encode(runs[^1].DueTime.UtcTicks, runs[^1].Id);
            return new DuePage(runs, token);
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<IReadOnlyList<ScheduledRun>> GetExpiredLeasesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        await _db.RunAsync<IReadOnlyList<ScheduledRun>>("read expired leases", async ct =>
        {
            var command = _data.CreateCommand($"""
                SELECT {PostgreSqlSchema.RunColumns} FROM {_runs}
                WHERE status = 1 AND lease_expires <= @now AND lease_db_expires <= clock_timestamp() LIMIT @limit
                """);
            await using var commandScope = command.ConfigureAwait(false);
            command.Parameters.AddWithValue("now", now.UtcTicks);
            command.Parameters.AddWithValue("limit", limit);
            var runs = new List<ScheduledRun>();
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                runs.Add(PostgreSqlRows.ReadRun(reader));
            }

            return runs;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<DateTimeOffset?> GetWatermarkAsync(string schedule, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        return await _db.RunAsync<DateTimeOffset?>("read a watermark", async ct =>
        {
            var command = _data.CreateCommand($"SELECT value FROM {_watermarks} WHERE schedule = @schedule");
            await using var commandScope = command.ConfigureAwait(false);
            command.Parameters.AddWithValue("schedule", PostgreSqlRows.Encode(schedule)!);
            var value = await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return value is long ticks ? PostgreSqlRows.Instant(ticks) : null;
        }, cancellationToken).ConfigureAwait(false);
    }
}
