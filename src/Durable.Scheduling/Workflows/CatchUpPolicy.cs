namespace Durable.Scheduling;

/// <summary>
/// What a recurring schedule does with occurrences that came due while nothing was running it (the process was down,
/// stalled, or the wall clock jumped forward). Always bounded by <see cref="SchedulingOptions.CatchUpWindow"/> and
/// <see cref="SchedulingOptions.MaxCatchUpRuns"/>; every occurrence not run is counted in the
/// <c>durable.scheduling.occurrences.missed</c> metric and logged.
/// </summary>
public enum CatchUpPolicy
{
    /// <summary>
    /// The default. Every missed occurrence inside the catch-up window gets its run, once, in order, as soon as the
    /// scheduler starts (at most <see cref="SchedulingOptions.MaxCatchUpRuns"/>, the most recent ones); older or
    /// excess occurrences are dropped and counted.
    /// </summary>
    ExactlyOncePerInterval = 0,

    /// <summary>
    /// Missed occurrences are skipped and counted; the schedule resumes with the first occurrence after start-up.
    /// Each occurrence that does come due while the scheduler is active (and the schedule not paused) still runs
    /// exactly once, also when the feed that creates it comes a moment after its instant (a schedule made or changed
    /// just before a fire time, or by another instance).
    /// </summary>
    ExactlyOncePerIntervalWhenActive = 1,

    /// <summary>
    /// One run, for the most recent missed occurrence inside the catch-up window; the others are dropped and counted.
    /// </summary>
    Latest = 2,
}
