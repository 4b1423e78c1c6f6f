using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// Restarting under a stable <see cref="SchedulingOptions.InstanceId"/>: what this instance held when it died is freed
/// at once (back to pending), instead of waiting for its leases to expire. Once per start; nothing to do without a
/// stable id. Owned by the loop.
/// </summary>
internal sealed class OwnedRunRecovery(ISchedulingStore store, string? stableInstanceId, ILogger logger)
{
    private bool _done;

    public async Task RecoverOnceAsync(string owner, CancellationToken stop)
    {
        if (_done)
        {
            return;
        }

        if (stableInstanceId is not null)
        {
            int released = await store.ReleaseOwnedAsync(owner, stop).ConfigureAwait(false);
            if (released > 0)
            {
                Log.OwnedReleased(logger, released, owner);
            }
        }

        _done = true;
    }
}
