namespace Durable.Scheduling;

/// <summary>A schedule as it is now: its definition, its state, what comes next and what happened.</summary>
public sealed record ScheduleDescription
{
    /// <summary>The definition (its input as a <see cref="System.Text.Json.JsonElement"/>, or null).</summary>
    public required ScheduleDefinition Definition { get; init; }

    /// <summary>The schedule id.</summary>
    public string Id => Definition.Id;

    /// <summary>True while paused: no occurrence runs (triggers and backfills still do).</summary>
    public bool Paused { get; init; }

    /// <summary>The note given with the last pause or resume, or null.</summary>
    public string? Note { get; init; }

    /// <summary>True for a schedule defined in code (<c>[Scheduled]</c>): it can be paused, triggered and backfilled, not updated or deleted.</summary>
    public bool CodeDefined { get; init; }

    /// <summary>
    /// True when this process defines no workflow of that name (its code was removed or renamed): its runs stay
    /// pending for an instance that defines it, and nothing runs here.
    /// </summary>
    public bool Orphaned { get; init; }

    /// <summary>When it was created (UTC).</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When its definition or state last changed (UTC).</summary>
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Its version: changes with every update, pause and resume (for optimistic concurrency).</summary>
    public long Version { get; init; }

    /// <summary>What it has done so far.</summary>
    public ScheduleCounters Counters { get; init; } = ScheduleCounters.Zero;

    /// <summary>
    /// Occurrences it may still create when <see cref="ScheduleDefinition.MaxRuns"/> limits it; null when unlimited.
    /// Occurrences are created up to <see cref="SchedulingOptions.LookAhead"/> before their instant, so this falls as
    /// they are created, ahead of their runs.
    /// </summary>
    public long? RemainingRuns { get; init; }

    /// <summary>
    /// The next fire times (while paused: when it would fire once resumed); empty when it will not fire again. For a
    /// limited schedule they include its occurrences made ahead and still to come, which no longer count in
    /// <see cref="RemainingRuns"/>: the two are read together, under the store's planning lock.
    /// </summary>
    public IReadOnlyList<FireTime> NextFireTimes { get; init; } = [];

    /// <summary>The most recent runs (occurrences, triggers, backfills), newest first, that are still stored (see <see cref="SchedulingOptions.RunRetention"/>).</summary>
    public IReadOnlyList<ScheduledRun> RecentRuns { get; init; } = [];
}

/// <summary>What a schedule has done; kept by the store, never purged with runs.</summary>
public sealed record ScheduleCounters
{
    /// <summary>
    /// Runs started (occurrences, triggers, backfills), each counted once, when first claimed: a retry or a takeover
    /// after a lost lease adds nothing; occurrences skipped by the overlap policy or the catch-up policy are counted in
    /// <see cref="Skipped"/>, <see cref="Dropped"/> or <see cref="Missed"/> instead. Runs started and not yet ended are
    /// those counted here and not yet in <see cref="Succeeded"/> or <see cref="Failed"/>.
    /// </summary>
    public long Runs { get; init; }

    /// <summary>Runs that succeeded.</summary>
    public long Succeeded { get; init; }

    /// <summary>Runs that failed (after their last attempt) or were cancelled.</summary>
    public long Failed { get; init; }

    /// <summary>Occurrences missed and not run under the catch-up policy and window.</summary>
    public long Missed { get; init; }

    /// <summary>Occurrences skipped by the overlap policy (<see cref="OverlapPolicy.Skip"/>), or deleted by the user.</summary>
    public long Skipped { get; init; }

    /// <summary>Occurrences dropped from a buffer (<see cref="OverlapPolicy.BufferOne"/> full, or <see cref="OverlapPolicy.CancelOther"/>).</summary>
    public long Dropped { get; init; }

    /// <summary>All zero (shared: counters are immutable).</summary>
    public static ScheduleCounters Zero { get; } = new();

    /// <summary>The sum of two sets of counters.</summary>
    /// <param name="other">The other.</param>
    /// <returns>The sum.</returns>
    public ScheduleCounters Add(ScheduleCounters other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return new()
        {
            Runs = Runs + other.Runs,
            Succeeded = Succeeded + other.Succeeded,
            Failed = Failed + other.Failed,
            Missed = Missed + other.Missed,
            Skipped = Skipped + other.Skipped,
            Dropped = Dropped + other.Dropped,
        };
    }

    /// <summary>True when every counter is zero.</summary>
    public bool IsZero => Runs == 0 && Succeeded == 0 && Failed == 0 && Missed == 0 && Skipped == 0 && Dropped == 0;
}

/// <summary>One schedule in a list.</summary>
/// <param name="Id">The schedule id.</param>
/// <param name="WorkflowName">Its workflow.</param>
/// <param name="Paused">True while paused.</param>
/// <param name="Note">The pause or resume note, or null.</param>
/// <param name="CodeDefined">True for a <c>[Scheduled]</c> method's schedule.</param>
/// <param name="NextFireTime">Its next fire time (as if resumed, when paused; for a limited schedule with no runs left to
/// make, its next occurrence made ahead), or null when it will not fire again.</param>
/// <param name="Counters">What it has done.</param>
/// <param name="Metadata">Its metadata.</param>
public sealed record ScheduleSummary(string Id, string WorkflowName, bool Paused, string? Note, bool CodeDefined, DateTimeOffset? NextFireTime, ScheduleCounters Counters, IReadOnlyDictionary<string, string> Metadata);

/// <summary>One page of schedules, ordered by id (ordinal).</summary>
/// <param name="Items">The schedules.</param>
/// <param name="ContinuationToken">For the next page; null on the last.</param>
public sealed record SchedulePage(IReadOnlyList<ScheduleSummary> Items, string? ContinuationToken);

/// <summary>Which schedules to list. Every criterion set must match.</summary>
public sealed record ScheduleQuery
{
    /// <summary>True: only paused; false: only active; null: both.</summary>
    public bool? Paused { get; init; }

    /// <summary>Only schedules of this workflow.</summary>
    public string? WorkflowName { get; init; }

    /// <summary>Only ids starting with this (ordinal).</summary>
    public string? IdPrefix { get; init; }

    /// <summary>Only schedules whose metadata holds every one of these pairs.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>1 to 1,000; default 100.</summary>
    public int PageSize { get; init; } = 100;

    /// <summary>The previous page's token, or null.</summary>
    public string? ContinuationToken { get; init; }
}
