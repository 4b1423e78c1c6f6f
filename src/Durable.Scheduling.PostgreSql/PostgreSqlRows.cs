using System.Text;
using System.Text.Json;
using Durable.Scheduling.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Durable.Scheduling.PostgreSql;

/// <summary>Rows and filters: how a run is read from a row, and how a <see cref="RunQuery"/> becomes a WHERE clause.</summary>
internal static class PostgreSqlRows
{
    private static readonly IReadOnlyDictionary<string, string> s_noMetadata = new Dictionary<string, string>(0);

    /// <summary>
    /// The WHERE clause of a query, its values bound as parameters on <paramref name="command"/>. Each filter is one
    /// indexed condition: workflow and status lead indexes with the scheduled time, metadata is a jsonb containment
    /// that the GIN index answers.
    /// </summary>
    public static string Where(NpgsqlCommand command, RunQuery query)
    {
        var where = new StringBuilder("TRUE");
        if (query.WorkflowName is not null)
        {
            where.Append(" AND workflow = @workflow");
            command.Parameters.AddWithValue("workflow", Encode(query.WorkflowName)!);
        }

        if (query.ExcludedWorkflowNames is { Count: > 0 } excluded)
        {
            where.Append(" AND workflow <> ALL(@excluded)");
            command.Parameters.AddWithValue("excluded", excluded.Select(Encode).ToArray());
        }

        if (query.ScheduleId is not null)
        {
            where.Append(" AND schedule_id = @schedule");
            command.Parameters.AddWithValue("schedule", Encode(query.ScheduleId)!);
        }

        if (query.Kinds is { Count: > 0 } kinds)
        {
            where.Append(" AND kind = ANY(@kinds)");
            command.Parameters.AddWithValue("kinds", kinds.Select(k => (short)k).ToArray());
        }

        if (query.Statuses is { Count: > 0 } statuses)
        {
            where.Append(" AND status = ANY(@statuses)");
            command.Parameters.AddWithValue("statuses", statuses.Select(s => (short)s).ToArray());
        }

        if (query.ScheduledFrom is { } from)
        {
            where.Append(" AND scheduled >= @from");
            command.Parameters.AddWithValue("from", from.UtcTicks);
        }

        if (query.ScheduledTo is { } to)
        {
            where.Append(" AND scheduled < @to");
            command.Parameters.AddWithValue("to", to.UtcTicks);
        }

        if (query.Metadata is { Count: > 0 } metadata)
        {
            where.Append(" AND metadata @> @metadata");
            command.Parameters.Add(new NpgsqlParameter("metadata", NpgsqlDbType.Jsonb) { Value = MetadataJson(metadata) });
        }

        if (query.ContinuationToken is not null)
        {
            (long ticks, Guid id) = ContinuationTokens.Decode(query.ContinuationToken);
            where.Append(" AND (scheduled, id) > (@afterScheduled, @afterId)");
            command.Parameters.AddWithValue("afterScheduled", ticks);
            command.Parameters.AddWithValue("afterId", id);
        }

        return where.ToString();
    }

    /// <summary>A run from a row of <see cref="PostgreSqlSchema.RunColumns"/> starting at <paramref name="at"/>.</summary>
    public static ScheduledRun ReadRun(NpgsqlDataReader reader, int at = 0)
    {
        var status = (RunStatus)reader.GetInt16(at + 6);
        return new ScheduledRun
        {
            Id = reader.GetGuid(at),
            WorkflowName = Decode(reader.GetString(at + 1))!,
            Kind = (RunKind)reader.GetInt16(at + 2),
            IdempotencyKey = Decode(reader.GetString(at + 3))!,
            ScheduledTime = Instant(reader.GetInt64(at + 4)),
            DueTime = Instant(reader.GetInt64(at + 5)),
            Status = status,
            Attempt = reader.GetInt32(at + 7),
            Input = reader.IsDBNull(at + 8) ? null : Decode(reader.GetString(at + 8)),
            Metadata = reader.IsDBNull(at + 9) ? s_noMetadata : ReadMetadata(reader.GetString(at + 9)),
            CreatedAt = Instant(reader.GetInt64(at + 10)),
            StartedAt = reader.IsDBNull(at + 11) ? null : Instant(reader.GetInt64(at + 11)),
            CompletedAt = reader.IsDBNull(at + 12) || status is RunStatus.Pending or RunStatus.Running ? null : Instant(reader.GetInt64(at + 12)),
            Error = reader.IsDBNull(at + 13) ? null : new RunError(Decode(reader.GetString(at + 13))!, reader.IsDBNull(at + 14) ? "" : Decode(reader.GetString(at + 14))!),
            TraceParent = reader.IsDBNull(at + 15) ? null : Decode(reader.GetString(at + 15)),
            ScheduleId = reader.IsDBNull(at + 16) ? null : Decode(reader.GetString(at + 16)),
            Overlap = reader.IsDBNull(at + 17) ? null : (OverlapPolicy)reader.GetInt16(at + 17),
        };
    }

    /// <summary>A schedule from a row of <see cref="PostgreSqlSchema.ScheduleColumns"/>.</summary>
    public static StoredSchedule ReadSchedule(NpgsqlDataReader reader) => new()
    {
        Id = Decode(reader.GetString(0))!,
        WorkflowName = Decode(reader.GetString(1))!,
        Definition = Decode(reader.GetString(2))!,
        Metadata = reader.IsDBNull(3) ? s_noMetadata : ReadMetadata(reader.GetString(3)),
        Paused = reader.GetBoolean(4),
        Note = reader.IsDBNull(5) ? null : Decode(reader.GetString(5)),
        CodeDefined = reader.GetBoolean(6),
        CreatedAt = Instant(reader.GetInt64(7)),
        UpdatedAt = Instant(reader.GetInt64(8)),
        SpecSince = Instant(reader.GetInt64(9)),
        Version = reader.GetInt64(10),
        Sequence = reader.GetInt64(11),
        Deleted = reader.GetBoolean(12),
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

    public static DateTimeOffset Instant(long ticks) => new(ticks, TimeSpan.Zero);

    /// <summary>A run's metadata as the jsonb text stored (null when it has none).</summary>
    public static string? MetadataJson(ScheduledRun run) => run.Metadata.Count == 0 ? null : MetadataJson(run.Metadata);

    /// <summary>Metadata as jsonb text, keys and values encoded (<see cref="Encode"/>).</summary>
    public static string MetadataJson(IReadOnlyDictionary<string, string> metadata)
    {
        foreach (var (key, value) in metadata)
        {
            if (NeedsEncoding(key) || NeedsEncoding(value))
            {
                return JsonSerializer.Serialize(metadata.ToDictionary(p => Encode(p.Key)!, p => Encode(p.Value)!));
            }
        }

        return JsonSerializer.Serialize(metadata);
    }

    /// <summary>
    /// Text as stored: PostgreSQL's text (and jsonb) cannot hold U+0000, which the contract's strings may, so U+0001
    /// escapes it reversibly (U+0001 becomes U+0001 U+0001, U+0000 becomes U+0001 U+0002). The mapping is one-to-one,
    /// so equality filters still match; text with neither character (nearly all) is stored as it is.
    /// </summary>
    public static string? Encode(string? text) =>
        text is null || !NeedsEncoding(text) ? text : text.Replace("\u0001", "\u0001\u0001", StringComparison.Ordinal).Replace("\0", "\u0001\u0002", StringComparison.Ordinal);

    /// <summary>The inverse of <see cref="Encode"/>.</summary>
    public static string? Decode(string? text)
    {
        if (text is null || !text.Contains('\u0001', StringComparison.Ordinal))
        {
            return text;
        }

        var decoded = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\u0001' && i + 1 < text.Length)
            {
                decoded.Append(text[++i] == '\u0002' ? '\0' : '\u0001');
            }
            else
            {
                decoded.Append(c);
            }
        }

        return decoded.ToString();
    }

    private static bool NeedsEncoding(string text) => text.AsSpan().IndexOfAny('\0', '\u0001') >= 0;

    private static Dictionary<string, string> ReadMetadata(string json)
    {
        var stored = JsonSerializer.Deserialize<Dictionary<string, string>>(json)!;
        foreach (var (key, value) in stored)
        {
            if (key.Contains('\u0001', StringComparison.Ordinal) || value.Contains('\u0001', StringComparison.Ordinal))
            {
                return stored.ToDictionary(p => Decode(p.Key)!, p => Decode(p.Value)!);
            }
        }

        return stored;
    }
}
