namespace Durable.Scheduling;

/// <summary>
/// What a recurring schedule does when an occurrence comes due while a run of the same schedule is still active, in this
/// process or on another instance sharing the store: under every policy but <see cref="AllowAll"/>, a schedule never has
/// two runs at once across the instances (the store claims its runs only while none of them runs). A run active on
/// another instance is seen when the occurrence is claimed; an occurrence that waits for it stays pending in the store and
/// is offered again at each poll (<see cref="SchedulingOptions.PollInterval"/>), so it starts within a poll of that run's
/// end. Occurrences skipped by a policy are recorded as runs with <see cref="RunStatus.Skipped"/> and counted in the
/// <c>durable.scheduling.occurrences.skipped</c> metric: never silently lost.
/// </summary>
public enum OverlapPolicy
{
    /// <summary>
    /// The default. Every occurrence starts its run when due, concurrently with active runs,
    /// so catch-up stays exactly-once per interval. Only the global <see cref="SchedulingOptions.MaxConcurrency"/> limits it.
    /// </summary>
    AllowAll = 0,

    /// <summary>The new occurrence is not run: it is recorded as <see cref="RunStatus.Skipped"/>.</summary>
    Skip = 1,

    /// <summary>
    /// The new occurrence waits and starts as soon as the active run ends; at most one waits. A further occurrence that
    /// comes due while one is already waiting is recorded as <see cref="RunStatus.Skipped"/>.
    /// </summary>
    BufferOne = 2,

    /// <summary>Every new occurrence waits; they start one at a time, in order, each after the previous run ends.</summary>
    BufferAll = 3,

    /// <summary>
    /// The active run's <see cref="CancellationToken"/> is cancelled (its run ends <see cref="RunStatus.Cancelled"/>),
    /// and the new occurrence starts as soon as the cancelled run has ended. Only a run active in this process is
    /// cancelled: one active on another instance is waited for, as under <see cref="BufferAll"/>.
    /// </summary>
    CancelOther = 4,
}
