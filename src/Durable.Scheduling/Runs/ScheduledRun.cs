using Durable.Scheduling.Storage;

namespace Durable.Scheduling;

/// <summary>
/// A stored run: one occurrence of a recurring schedule, or one one-time run. Immutable snapshot; every instant is UTC
/// (offset zero): an instant given with another offset is kept as the same instant and returned in UTC.
/// </summary>
public sealed record ScheduledRun
{
    /// <summary>The run id, unique in the store.</summary>
    public required Guid Id { get; init; }

    /// <summary>The workflow it runs.</summary>
    public required string WorkflowName { get; init; }

    /// <summary>What created it.</summary>
    public required RunKind Kind { get; init; }

    /// <summary>
    /// The key the store enforces once: <c>schedule@yyyy-MM-ddTHH:mm:ss.fffffffZ</c> for occurrences and backfilled
    /// fire times, <c>schedule!key</c> for triggered runs, <c>workflow#key</c> for one-time runs (the caller's key, or
    /// the run id in 32 hex digits). When not set, it is derived from the schedule (or workflow) and the instant or id,
    /// on first read.
    /// </summary>
    public string IdempotencyKey
    {
        get => _idempotencyKey ?? DerivedKey;
        init => _idempotencyKey = value;
    }

    /// <summary>
    /// The recurring schedule that made the run (occurrences, triggered and backfilled runs), or null for a one-time run.
    /// An occurrence stored without one belongs to the code-defined schedule named after its workflow.
    /// </summary>
    public string? ScheduleId
    {
        get => _scheduleId ?? (Kind == RunKind.Occurrence ? WorkflowName : null);
        init => _scheduleId = value;
    }

    /// <summary>
    /// The overlap policy this run was created with, when not its schedule's (a trigger's or backfill's own); null:
    /// its schedule's.
    /// </summary>
    public OverlapPolicy? Overlap { get; init; }

    /// <summary>True when the key is the one derived from the schedule or workflow and the instant or id (no caller key).</summary>
    internal bool HasDerivedKey => _idempotencyKey is null || _idempotencyKey == DerivedKey;

    private string DerivedKey => Kind switch
    {
        RunKind.Occurrence or RunKind.Backfill => RunKeys.Occurrence(ScheduleId ?? WorkflowName, ScheduledTime),
        RunKind.Triggered => RunKeys.Triggered(ScheduleId ?? WorkflowName, null, Id),
        _ => RunKeys.OneTime(WorkflowName, null, Id),
    };

    private readonly string? _idempotencyKey;
    private readonly string? _scheduleId;

    // Instants are kept as UTC ticks (a run snapshot is created per claim, so its size is on the hot path); a value
    // given with another offset is stored as the same instant in UTC. Zero stands for "not set" in the nullable ones
    // (tick 0 is year 1, which no run uses).
    private long _scheduled;
    private long _due;
    private long _created;
    private long _started;
    private long _completed;

    /// <summary>The instant the run is scheduled for (UTC); for an occurrence, the occurrence itself.</summary>
    public required DateTimeOffset ScheduledTime { get => Utc(_scheduled); init => _scheduled = value.UtcTicks; }

    /// <summary>When it will next be dispatched (UTC): the scheduled time, or a retry's time.</summary>
    public required DateTimeOffset DueTime { get => Utc(_due); init => _due = value.UtcTicks; }

    /// <summary>Its status.</summary>
    public required RunStatus Status { get; init; }

    /// <summary>Attempts started so far (0 before the first).</summary>
    public int Attempt { get; init; }

    /// <summary>The input, as JSON, or null. Serialized as that JSON itself (not as a string holding it).</summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(RawJsonConverter))]
    public string? Input { get; init; }

    /// <summary>Caller metadata (never null; empty when none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = EmptyMetadata;

    /// <summary>When it was stored (UTC).</summary>
    public DateTimeOffset CreatedAt { get => Utc(_created); init => _created = value.UtcTicks; }

    /// <summary>When its last attempt started (UTC), or null.</summary>
    public DateTimeOffset? StartedAt { get => _started == 0 ? null : Utc(_started); init => _started = value?.UtcTicks ?? 0; }

    /// <summary>When it ended (UTC), or null while pending or running.</summary>
    public DateTimeOffset? CompletedAt { get => _completed == 0 ? null : Utc(_completed); init => _completed = value?.UtcTicks ?? 0; }

    /// <summary>The due time in UTC ticks, without building a <see cref="DateTimeOffset"/>.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    internal long DueTicks => _due;

    /// <summary>Why it failed, was cancelled or skipped; null otherwise.</summary>
    public RunError? Error { get; init; }

    /// <summary>
    /// The W3C trace context (<c>traceparent</c>) of the activity that scheduled the run, or null: the run's activity
    /// continues that trace, so a run shows under the request that scheduled it.
    /// </summary>
    public string? TraceParent { get; init; }

    internal static readonly IReadOnlyDictionary<string, string> EmptyMetadata = new Dictionary<string, string>(0);

    /// <summary>Equal when every property is equal (metadata by reference, as records compare).</summary>
    /// <param name="other">The other run.</param>
    /// <returns>True when equal.</returns>
    public bool Equals(ScheduledRun? other) =>
        other is not null && Id == other.Id && WorkflowName == other.WorkflowName && Kind == other.Kind &&
        IdempotencyKey == other.IdempotencyKey && _scheduled == other._scheduled && _due == other._due &&
        Status == other.Status && Attempt == other.Attempt && Input == other.Input && ReferenceEquals(Metadata, other.Metadata) &&
        _created == other._created && _started == other._started && _completed == other._completed &&
        Equals(Error, other.Error) && TraceParent == other.TraceParent && ScheduleId == other.ScheduleId && Overlap == other.Overlap;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Id, Status, Attempt, _due);

    private static DateTimeOffset Utc(long ticks) => new(ticks, TimeSpan.Zero);
}
