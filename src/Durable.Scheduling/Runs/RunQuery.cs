namespace Durable.Scheduling;

/// <summary>
/// Which runs to list or bulk-delete. Every criterion set must match; unset criteria match everything.
/// </summary>
public sealed record RunQuery
{
    /// <summary>Only runs of this workflow.</summary>
    public string? WorkflowName { get; init; }

    /// <summary>Only runs of this recurring schedule (occurrences, triggered and backfilled runs).</summary>
    public string? ScheduleId { get; init; }

    /// <summary>Only runs of workflows other than these (null or empty: no exclusion).</summary>
    public IReadOnlyCollection<string>? ExcludedWorkflowNames { get; init; }

    /// <summary>
    /// Only orphaned runs: runs of workflows this process does not define (removed from code, or renamed), which no
    /// instance of this version will ever run. <see cref="IScheduler"/> turns it into
    /// <see cref="ExcludedWorkflowNames"/> (every workflow defined here); stores ignore it. List them to see them, and
    /// purge them with <see cref="IScheduler.BulkDeleteAsync(RunQuery, CancellationToken)"/> (set
    /// <see cref="Kinds"/> to include occurrences).
    /// </summary>
    public bool OrphanedOnly { get; init; }

    /// <summary>
    /// Only runs of these kinds (null or empty: any, when listing). For <see cref="IScheduler.BulkDeleteAsync(RunQuery, CancellationToken)"/>
    /// null or empty means one-time runs only: occurrences of recurring schedules are deleted only when
    /// <see cref="RunKind.Occurrence"/> is listed here, and a pending one is then recorded as skipped, not removed.
    /// </summary>
    public IReadOnlyCollection<RunKind>? Kinds { get; init; }

    /// <summary>Only runs in one of these statuses (null or empty: any).</summary>
    public IReadOnlyCollection<RunStatus>? Statuses { get; init; }

    /// <summary>Only runs whose metadata contains every one of these key/value pairs (exact, case-sensitive).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>Only runs scheduled at or after this instant.</summary>
    public DateTimeOffset? ScheduledFrom { get; init; }

    /// <summary>Only runs scheduled before this instant.</summary>
    public DateTimeOffset? ScheduledTo { get; init; }

    /// <summary>
    /// Whether listed runs carry their <see cref="ScheduledRun.Input"/>; default false (the input is null in the page):
    /// inputs can be large, and a list rarely needs them. <see cref="IScheduler.GetAsync"/> always returns the input.
    /// </summary>
    public bool IncludeInput { get; init; }

    /// <summary>Page size for listing, 1 to 1,000; default 100. Ignored by bulk deletion.</summary>
    public int PageSize { get; init; } = 100;

    /// <summary>The <see cref="RunPage.ContinuationToken"/> of the previous page, or null for the first page.</summary>
    public string? ContinuationToken { get; init; }
}
