using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// At start-up, frees at once (back to pending, attempts kept) what dead schedulers held, instead of waiting for their
/// leases to expire: this instance's own runs when it restarts under a stable <see cref="SchedulingOptions.InstanceId"/>,
/// and those of schedulers of this machine whose process is gone (<see cref="LocalOwners"/>: a process that crashed and
/// was started again, with no id configured). Once per start, at the loop's first feed. Owned by the loop.
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

        foreach (var other in await store.GetLeaseOwnersAsync(stop).ConfigureAwait(false))
        {
            if (other != owner && LocalOwners.IsGone(other))
            {
                int released = await store.ReleaseOwnedAsync(other, stop).ConfigureAwait(false);
                if (released > 0)
                {
                    Log.GoneOwnerReleased(logger, released, other);
                }
            }
        }

        _done = true;
    }
}
