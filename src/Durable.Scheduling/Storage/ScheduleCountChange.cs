namespace Durable.Scheduling.Storage;

/// <summary>What to add to one schedule's counters (see <see cref="ISchedulingStore.AddScheduleCountsAsync"/>).</summary>
/// <param name="ScheduleId">The schedule.</param>
/// <param name="Delta">What to add to its counters; a negative value subtracts (the scheduler takes back so the one a
/// claim added to <see cref="ScheduleCounters.Runs"/> for an occurrence it then records as skipped).</param>
/// <param name="UsedRuns">Occurrences created, to take from its remaining runs (never below zero); negative to give
/// back occurrences withdrawn before they ran.</param>
public readonly record struct ScheduleCountChange(string ScheduleId, ScheduleCounters Delta, long UsedRuns = 0);
