using System.Globalization;
using System.Text;
using System.Text.Json;
using Durable.Scheduling.Storage;
using Microsoft.Data.Sqlite;

namespace Durable.Scheduling.Sqlite;

/// <summary>Rows and filters: how a run is read from a row, how a <see cref="RunQuery"/> becomes a WHERE clause, how values are bound.</summary>
internal static class SqliteRows
{
    private static readonly IReadOnlyDictionary<string, string> s_noMetadata = new Dictionary<string, string>(0);

    /// <summary>
    /// The WHERE clause of a query, its values bound as parameters on <paramref name="command"/>. Columns are named
    /// <c>ds_runs.</c>..., so the clause holds in a join where another table (or another reference to ds_runs) has them too.
    /// </summary>
    public static string Where(SqliteCommand command, RunQuery query)
    {
        var where = new StringBuilder("1 = 1");
        if (query.WorkflowName is not null)
        {
            where.Append(" AND ds_runs.workflow = $workflow");
            command.Parameters.AddWithValue("$workflow", query.WorkflowName);
        }

        if (query.ExcludedWorkflowNames is { Count: > 0 } excluded)
        {
            where.Append(" AND ds_runs.workflow NOT IN (");
            int n = 0;
            foreach (string name in excluded)
            {
                where.Append(n == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"$xw{n}");
                command.Parameters.AddWithValue($"$xw{n}", name);
                n++;
            }

            where.Append(')');
        }

        if (query.ScheduleId is not null)
        {
            where.Append(" AND ds_runs.schedule_id = $schedule");
            command.Parameters.AddWithValue("$schedule", query.ScheduleId);
        }

        if (query.Kinds is { Count: > 0 } kinds)
        {
            where.Append(" AND ds_runs.kind IN (").AppendJoin(", ", kinds.Select(k => ((int)k).ToString(CultureInfo.InvariantCulture))).Append(')');
        }

        if (query.Statuses is { Count: > 0 } statuses)
        {
            where.Append(" AND ds_runs.status IN (").AppendJoin(", ", statuses.Select(s => ((int)s).ToString(CultureInfo.InvariantCulture))).Append(')');
        }

        if (query.ScheduledFrom is { } from && !SqliteListQuery.StartsAfter(query, from))
        {
            where.Append(" AND ds_runs.scheduled >= $from");
            command.Parameters.AddWithValue("$from", from.UtcTicks);
        }

        if (query.ScheduledTo is { } to)
        {
            where.Append(" AND ds_runs.scheduled < $to");
            command.Parameters.AddWithValue("$to", to.UtcTicks);
        }

        int i = 0;
        foreach (var (key, value) in query.Metadata ?? s_noMetadata)
        {
            where.Append(CultureInfo.InvariantCulture, $" AND EXISTS (SELECT 1 FROM ds_run_pairs m WHERE m.key = CAST($mk{i} AS TEXT) AND m.value = CAST($mv{i} AS TEXT) AND m.scheduled = ds_runs.scheduled AND m.run_id = ds_runs.id)");
            command.Parameters.AddWithValue($"$mk{i}", Text(key));
            command.Parameters.AddWithValue($"$mv{i}", Text(value));
            i++;
        }

        if (query.ContinuationToken is not null)
        {
            (long ticks, Guid id) = ContinuationTokens.Decode(query.ContinuationToken);
            where.Append(" AND (ds_runs.scheduled, ds_runs.id) > ($afterScheduled, $afterId)");
            command.Parameters.AddWithValue("$afterScheduled", ticks);
            command.Parameters.AddWithValue("$afterId", id.ToByteArray());
        }

        return where.ToString();
    }

    /// <summary>
    /// A text value for a parameter of Microsoft.Data.Sqlite: the string, or, for one of more than 512 UTF-8 bytes that
    /// holds U+0000, its UTF-8 bytes, which SQL must read as <c>CAST(... AS TEXT)</c> (the provider writes a string that
    /// long only up to its first U+0000; bytes go whole, and the cast makes them the same text the writer's statements
    /// store). Shorter strings the provider writes whole.
    /// </summary>
    public static object? Text(string? value) =>
        value is not null && value.Contains('\0', StringComparison.Ordinal) && Encoding.UTF8.GetByteCount(value) > 512 ? Encoding.UTF8.GetBytes(value) : value;

    /// <summary>A run from a row of <see cref="SqliteSchema.RunColumns"/>.</summary>
    public static ScheduledRun ReadRun(SqliteDataReader reader) => ReadRun(new ReaderRow(reader));

    /// <summary>A run from a row of <see cref="SqliteSchema.RunColumns"/>, of a reader or of a writer's statement.</summary>
    public static ScheduledRun ReadRun<TRow>(TRow row)
        where TRow : IRow
    {
        var status = (RunStatus)row.Int64(6);
        return new ScheduledRun
        {
            Id = row.Guid(0),
            WorkflowName = row.Text(1),
            Kind = (RunKind)row.Int64(2),
            IdempotencyKey = row.Text(3),
            ScheduledTime = new DateTimeOffset(row.Int64(4), TimeSpan.Zero),
            DueTime = new DateTimeOffset(row.Int64(5), TimeSpan.Zero),
            Status = status,
            Attempt = (int)row.Int64(7),
            Input = row.IsNull(8) ? null : row.Text(8),
            Metadata = row.IsNull(9) ? s_noMetadata : JsonSerializer.Deserialize<Dictionary<string, string>>(row.Text(9))!,
            CreatedAt = new DateTimeOffset(row.Int64(10), TimeSpan.Zero),
            StartedAt = row.IsNull(11) ? null : new DateTimeOffset(row.Int64(11), TimeSpan.Zero),
            CompletedAt = row.IsNull(12) || status is RunStatus.Pending or RunStatus.Running ? null : new DateTimeOffset(row.Int64(12), TimeSpan.Zero),
            Error = row.IsNull(13) ? null : new RunError(row.Text(13), row.IsNull(14) ? "" : row.Text(14)),
            TraceParent = row.ColumnCount > 15 && !row.IsNull(15) ? row.Text(15) : null,
            ScheduleId = row.ColumnCount > 16 && !row.IsNull(16) ? row.Text(16) : null,
            Overlap = row.ColumnCount > 17 && !row.IsNull(17) ? (OverlapPolicy)row.Int64(17) : null,
        };
    }

    /// <summary>A row being read: a data reader's (<see cref="ReaderRow"/>) or a writer's statement's (<see cref="SqliteStatement"/>).</summary>
    internal interface IRow
    {
        int ColumnCount { get; }

        bool IsNull(int column);

        long Int64(int column);

        string Text(int column);

        Guid Guid(int column);
    }

    /// <summary>The current row of a data reader.</summary>
    private readonly struct ReaderRow(SqliteDataReader reader) : IRow
    {
        public int ColumnCount => reader.FieldCount;

        public bool IsNull(int column) => reader.IsDBNull(column);

        public long Int64(int column) => reader.GetInt64(column);

        public string Text(int column) => reader.GetString(column);

        public Guid Guid(int column) => new((byte[])reader.GetValue(column));
    }

    /// <summary>A schedule from a row of <see cref="SqliteSchema.ScheduleColumns"/>.</summary>
    public static StoredSchedule ReadSchedule(SqliteDataReader reader) => new()
    {
        Id = reader.GetString(0),
        WorkflowName = reader.GetString(1),
        Definition = reader.GetString(2),
        Metadata = reader.IsDBNull(3) ? s_noMetadata : JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(3))!,
        Paused = reader.GetInt64(4) != 0,
        Note = reader.IsDBNull(5) ? null : reader.GetString(5),
        CodeDefined = reader.GetInt64(6) != 0,
        CreatedAt = new DateTimeOffset(reader.GetInt64(7), TimeSpan.Zero),
        UpdatedAt = new DateTimeOffset(reader.GetInt64(8), TimeSpan.Zero),
        SpecSince = new DateTimeOffset(reader.GetInt64(9), TimeSpan.Zero),
        Version = reader.GetInt64(10),
        Sequence = reader.GetInt64(11),
        Deleted = reader.GetInt64(12) != 0,
        RemainingRuns = reader.IsDBNull(13) ? null : reader.GetInt64(13),
        Counters = new ScheduleCounters
        {
            Runs = reader.GetInt64(14),
            Succeeded = reader.GetInt64(15),
            Failed = reader.GetInt64(16),
            Missed = reader.GetInt64(17),
            Skipped = reader.GetInt64(18),
            Dropped = reader.GetInt64(19),
        },
    };

    /// <summary>Sets a parameter of a reused command (added the first time).</summary>
    public static void Bind(SqliteCommand command, string name, object? value)
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
}
