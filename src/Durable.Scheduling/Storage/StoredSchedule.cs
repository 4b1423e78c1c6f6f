namespace Durable.Scheduling.Storage;

/// <summary>
/// A recurring schedule as a store keeps it. The definition is an opaque JSON document the scheduler writes and reads;
/// a store filters only on the plain fields. Instants are UTC.
/// </summary>
public sealed record StoredSchedule
{
    /// <summary>The schedule id (1 to 200 characters), unique in the store.</summary>
    public required string Id { get; init; }

    /// <summary>Its workflow (a list filter).</summary>
    public required string WorkflowName { get; init; }

    /// <summary>The definition, as JSON written by the scheduler; stores keep it as is.</summary>
    public required string Definition { get; init; }

    /// <summary>Its metadata (a list filter); never null.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = ScheduledRun.EmptyMetadata;

    /// <summary>True while paused (a list filter).</summary>
    public bool Paused { get; init; }

    /// <summary>The pause or resume note, or null.</summary>
    public string? Note { get; init; }

    /// <summary>True for a schedule defined in code.</summary>
    public bool CodeDefined { get; init; }

    /// <summary>When it was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When its definition or state last changed.</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>
    /// When its spec last took effect (creation, or an update that changed it): occurrences are counted from here for a
    /// schedule never run since.
    /// </summary>
    public DateTimeOffset SpecSince { get; init; }

    /// <summary>The version, set by the store: 1 when created, one more at each update.</summary>
    public long Version { get; init; }

    /// <summary>
    /// The store's change sequence, set by the store: every create, update and delete gives the schedule a number greater
    /// than any given before, in commit order (see <see cref="ISchedulingStore.GetScheduleChangesAsync"/>).
    /// </summary>
    public long Sequence { get; init; }

    /// <summary>True for a deleted schedule (only <see cref="ISchedulingStore.GetScheduleChangesAsync"/> returns those).</summary>
    public bool Deleted { get; init; }

    /// <summary>Occurrences it may still create, or null when unlimited.</summary>
    public long? RemainingRuns { get; init; }

    /// <summary>Its counters, kept by the store.</summary>
    public ScheduleCounters Counters { get; init; } = ScheduleCounters.Zero;
}

/// <summary>One page of stored schedules, ordered by id (ordinal).</summary>
/// <param name="Items">The schedules.</param>
/// <param name="ContinuationToken">Resumes after the last one; null on the last page.</param>
public sealed record StoredSchedulePage(IReadOnlyList<StoredSchedule> Items, string? ContinuationToken);
