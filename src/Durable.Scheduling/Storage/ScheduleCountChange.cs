namespace Durable.Scheduling.Storage;

/// <summary>What to add to one schedule's counters (see <see cref="ISchedulingStore.AddScheduleCountsAsync"/>).</summary>
/// <param name="ScheduleId">The schedule.</param>
/// <param name="Delta">What to add to its counters.</param>
/// <param name="UsedRuns">Occurrences created, to take from its remaining runs (never below zero); negative to give
/// back occurrences withdrawn before they ran.</param>
public readonly record struct ScheduleCountChange(string ScheduleId, ScheduleCounters Delta, long UsedRuns = 0);
