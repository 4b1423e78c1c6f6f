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
    /// When its spec last took effect (creation, or an update that changed its spec, workflow, input or metadata: what
    /// its occurrences are made of): occurrences are counted from here for a schedule never run since.
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
public sealed record StoredSchedulePage(IReadOnlyList<StoredSchedule> Items, string? ContinuationToken)
{
    /// <summary>
    /// The page in rows a store read in ordinal id order, for a store that reads one row more than the page to learn
    /// whether another page follows. With an id prefix, the ids holding it lie together from the prefix on, so a store
    /// may read from the prefix and return the first row past them (whatever the other filters say) to end the list:
    /// the page stops before it, with no token.
    /// </summary>
    /// <param name="rows">At most <paramref name="pageSize"/> + 1 rows, in ordinal id order; the list is trimmed in place and kept.</param>
    /// <param name="pageSize">The page size asked for (at least 1).</param>
    /// <param name="idPrefix">The query's id prefix, or null.</param>
    /// <returns>The page, with a token (the last id) when more rows than the page were read.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="rows"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="pageSize"/> is below 1.</exception>
    public static StoredSchedulePage FromRows(List<StoredSchedule> rows, int pageSize, string? idPrefix)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        int past = string.IsNullOrEmpty(idPrefix) ? -1 : rows.FindIndex(s => !s.Id.StartsWith(idPrefix, StringComparison.Ordinal));
        if (past >= 0)
        {
            rows.RemoveRange(past, rows.Count - past);
        }

        if (past >= 0 || rows.Count <= pageSize)
        {
            return new StoredSchedulePage(rows, null);
        }

        rows.RemoveRange(pageSize, rows.Count - pageSize);
        return new StoredSchedulePage(rows, rows[^1].Id);
    }
}
