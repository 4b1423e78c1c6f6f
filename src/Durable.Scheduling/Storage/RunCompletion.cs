namespace Durable.Scheduling.Storage;

/// <summary>How a claimed run ended.</summary>
/// <param name="RunId">The run.</param>
/// <param name="LeaseToken">The lease token it was claimed with.</param>
/// <param name="Status">Succeeded, Failed, Cancelled or Skipped.</param>
/// <param name="CompletedAt">When it ended (UTC).</param>
/// <param name="Error">Why it failed, was cancelled or skipped; null on success.</param>
public readonly record struct RunCompletion(Guid RunId, Guid LeaseToken, RunStatus Status, DateTimeOffset CompletedAt, RunError? Error = null)
{
    /// <summary>
    /// The run's schedule, or null: a store adds a completion that counts to that schedule's counters
    /// (<see cref="ScheduleCounters.Succeeded"/> for <see cref="RunStatus.Succeeded"/>, <see cref="ScheduleCounters.Failed"/>
    /// for failed and cancelled), in the same transaction.
    /// </summary>
    public string? ScheduleId { get; init; }
}
