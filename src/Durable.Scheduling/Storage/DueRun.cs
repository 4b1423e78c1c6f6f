namespace Durable.Scheduling.Storage;

/// <summary>A pending run that falls due within the scheduler's look-ahead: just what the timer wheel needs.</summary>
/// <param name="Id">The run id.</param>
/// <param name="WorkflowName">Its workflow.</param>
/// <param name="Kind">What created it.</param>
/// <param name="DueTime">When it is due (UTC).</param>
/// <param name="ScheduleId">Its schedule, as <see cref="ScheduledRun.ScheduleId"/> (null for one-time runs; may be null for an occurrence of a code-defined schedule).</param>
/// <param name="Overlap">Its own overlap policy, as <see cref="ScheduledRun.Overlap"/>.</param>
public readonly record struct DueRun(Guid Id, string WorkflowName, RunKind Kind, DateTimeOffset DueTime, string? ScheduleId = null, OverlapPolicy? Overlap = null);
