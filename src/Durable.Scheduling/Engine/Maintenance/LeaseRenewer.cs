using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// Extends the leases of the runs executing in this process, every third of <see cref="SchedulingOptions.LeaseDuration"/>,
/// so that no other process takes a run over while its handler still runs here. It runs on its own schedule (the loop
/// wakes for it), not with the feed, so a poll interval longer than the lease cannot let a lease lapse. Owned by the loop.
/// </summary>
internal sealed class LeaseRenewer(ISchedulingStore store, ExecutionTracker executions, TimeSpan leaseDuration, ILogger logger)
{
    private long _nextTicks;

    /// <summary>When the next renewal is due (UTC ticks), or <see cref="long.MaxValue"/> while nothing runs here.</summary>
    public long NextTicks => executions.Executions.First is null ? long.MaxValue : _nextTicks;

    /// <summary>Renews every lease when a third of the lease has passed since the last renewal.</summary>
    public async Task RenewIfDueAsync(DateTimeOffset now, CancellationToken stop)
    {
        if (now.UtcTicks < _nextTicks || executions.Executions.First is null)
        {
            return;
        }

        _nextTicks = now.UtcTicks + (leaseDuration.Ticks / 3);
        foreach (var execution in executions.Executions.ToList())
        {
            // A run whose handler has returned stays listed until the loop sees its outcome stored (up to a poll for a
            // one-time run): its lease is being given up, and renewing it would fail once the outcome is written.
            if (execution.HandlerEnded)
            {
                continue;
            }

            if (!await store.RenewAsync(execution.Lease.Run.Id, execution.Lease.Token, now + leaseDuration, stop).ConfigureAwait(false) && !execution.HandlerEnded)
            {
                Log.LeaseLost(logger, execution.Lease.Run.Id, execution.Lease.Run.WorkflowName);
            }
        }
    }
}
