namespace Durable.Scheduling;

/// <summary>
/// A stored run: one occurrence of a recurring schedule, or one one-time run. Immutable snapshot; every instant is UTC
/// (offset zero).
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
    /// The key the store enforces once: <c>workflow@yyyy-MM-ddTHH:mm:ss.fffffffZ</c> for occurrences,
    /// <c>workflow#key</c> for one-time runs (the caller's key, or the run id in 32 hex digits). When not set, it is
    /// derived from the workflow name and the instant (occurrences) or the id (one-time runs), on first read.
    /// </summary>
    public string IdempotencyKey
    {
        get => _idempotencyKey ?? (Kind == RunKind.Occurrence ? RunKeys.Occurrence(WorkflowName, ScheduledTime) : RunKeys.OneTime(WorkflowName, null, Id));
        init => _idempotencyKey = value;
    }

    /// <summary>True when the key is the one derived from the workflow and the instant or id (no caller key).</summary>
    internal bool HasDerivedKey => _idempotencyKey is null || _idempotencyKey == (Kind == RunKind.Occurrence ? RunKeys.Occurrence(WorkflowName, ScheduledTime) : RunKeys.OneTime(WorkflowName, null, Id));

    private readonly string? _idempotencyKey;

    /// <summary>The instant the run is scheduled for (UTC); for an occurrence, the occurrence itself.</summary>
    public required DateTimeOffset ScheduledTime { get; init; }

    /// <summary>When it will next be dispatched (UTC): the scheduled time, or a retry's time.</summary>
    public required DateTimeOffset DueTime { get; init; }

    /// <summary>Its status.</summary>
    public required RunStatus Status { get; init; }

    /// <summary>Attempts started so far (0 before the first).</summary>
    public int Attempt { get; init; }

    /// <summary>The input, as JSON, or null.</summary>
    public string? Input { get; init; }

    /// <summary>Caller metadata (never null; empty when none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = EmptyMetadata;

    /// <summary>When it was stored (UTC).</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When its last attempt started (UTC), or null.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it ended (UTC), or null while pending or running.</summary>
    public DateTimeOffset? CompletedAt { get; init; }

    /// <summary>Why it failed, was cancelled or skipped; null otherwise.</summary>
    public RunError? Error { get; init; }

    internal static readonly IReadOnlyDictionary<string, string> EmptyMetadata = new Dictionary<string, string>(0);

    /// <summary>Equal when every property is equal (metadata by reference, as records compare).</summary>
    /// <param name="other">The other run.</param>
    /// <returns>True when equal.</returns>
    public bool Equals(ScheduledRun? other) =>
        other is not null && Id == other.Id && WorkflowName == other.WorkflowName && Kind == other.Kind &&
        IdempotencyKey == other.IdempotencyKey && ScheduledTime.Equals(other.ScheduledTime) && DueTime.Equals(other.DueTime) &&
        Status == other.Status && Attempt == other.Attempt && Input == other.Input && ReferenceEquals(Metadata, other.Metadata) &&
        CreatedAt.Equals(other.CreatedAt) && Nullable.Equals(StartedAt, other.StartedAt) && Nullable.Equals(CompletedAt, other.CompletedAt) &&
        Equals(Error, other.Error);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Id, Status, Attempt, DueTime);
}
