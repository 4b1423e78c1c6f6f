using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// Extends the leases of the runs executing in this process, every third of <see cref="SchedulingOptions.LeaseDuration"/>,
/// so that no other process takes a run over while its handler still runs here. Owned by the loop.
/// </summary>
internal sealed class LeaseRenewer(ISchedulingStore store, ExecutionTracker executions, TimeSpan leaseDuration, ILogger logger)
{
    private long _nextTicks;

    /// <summary>Renews every lease when a third of the lease has passed since the last renewal.</summary>
    public async Task RenewIfDueAsync(DateTimeOffset now, CancellationToken stop)
    {
        if (now.UtcTicks < _nextTicks)
        {
            return;
        }

        _nextTicks = now.UtcTicks + (leaseDuration.Ticks / 3);
        foreach (var execution in executions.Executions.ToList())
        {
            if (!await store.RenewAsync(execution.Lease.Run.Id, execution.Lease.Token, now + leaseDuration, stop).ConfigureAwait(false))
            {
                Log.LeaseLost(logger, execution.Lease.Run.Id, execution.Lease.Run.WorkflowName);
            }
        }
    }
}
