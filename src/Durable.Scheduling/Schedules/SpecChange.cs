using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Schedules;

/// <summary>
/// What a change of a schedule's spec (an update, or a code-defined spec changed in code) does to the occurrences its
/// old spec created ahead: they are withdrawn, and the new spec's watermark is started again after the withdrawal.
/// </summary>
internal static class SpecChange
{
    private const int MaxAttempts = 10;

    /// <summary>Deletes the schedule's pending occurrences at or after <paramref name="since"/>; returns their ids.</summary>
    public static ValueTask<IReadOnlyList<Guid>> WithdrawAheadAsync(ISchedulingStore store, string id, DateTimeOffset since, CancellationToken cancellationToken) =>
        store.DeleteAsync(new RunQuery { ScheduleId = id, Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending], ScheduledFrom = since }, cancellationToken);

    /// <summary>
    /// Moves the schedule's <see cref="StoredSchedule.SpecSince"/> from <paramref name="since"/> to
    /// <paramref name="restart"/> (a tick away), which gives it a watermark never advanced. The change holds the store's
    /// planning lock, so with a store whose lock reaches every instance no pass plans in between; with one whose lock
    /// does not (the default serializes one process only), another instance's planner that read the new spec before the
    /// withdrawal may have created its occurrences, advancing the watermark past them, only for the withdrawal to delete
    /// them: every planner now creates again what is missing (what survived is found under the same keys, so nothing is
    /// created twice). Left alone when the schedule changed again meanwhile (deleted, or given a spec of its own).
    /// </summary>
    public static async Task RestartWatermarkAsync(ISchedulingStore store, string id, DateTimeOffset since, DateTimeOffset restart, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var stored = await store.GetScheduleAsync(id, cancellationToken).ConfigureAwait(false);
            if (stored is null || stored.SpecSince != since)
            {
                return;
            }

            if (await store.UpdateScheduleAsync(stored with { SpecSince = restart }, stored.Version, setRemainingRuns: false, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
    }
}
