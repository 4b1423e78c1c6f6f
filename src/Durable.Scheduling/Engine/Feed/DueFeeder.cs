using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Engine.Feed;

/// <summary>
/// Loads from the store the pending runs that fall due before the wheel's horizon, a batch per call (resuming where
/// the last batch ended), and, at the start of each cycle, the running runs whose lease expired (their holder is
/// presumed dead: they are due at once), except runs this process is executing: their lease lapsed while the handler
/// still runs here (the clock moved past it at once), and the lease renewer extends it. Owned by the loop.
/// </summary>
internal sealed class DueFeeder(ISchedulingStore store, TrackedRuns tracked, Func<Guid, bool> executingHere, int batchSize)
{
    private static readonly DuePage s_nothing = new([], null);
    private string? _cursor;

    /// <summary>Starts the next load from the earliest due run (after a failure, or when runs were lost track of).</summary>
    public void Restart() => _cursor = null;

    /// <summary>
    /// Loads one batch of runs due at or before <paramref name="horizon"/> into the wheel; true when more remain to read
    /// (the caller reads again at once). With <paramref name="loadDue"/> false (runs wait for a concurrency slot, so
    /// nothing more could start, and runs made due in this process wait untracked) no due run is read and the next
    /// load starts from the earliest again; expired leases are still picked up.
    /// </summary>
    public async Task<bool> LoadAsync(DateTimeOffset now, DateTimeOffset horizon, bool loadDue, CancellationToken stop)
    {
        bool cycleStart = _cursor is null;
        var page = loadDue ? await store.GetDueAsync(horizon, batchSize, _cursor, stop).ConfigureAwait(false) : s_nothing;
        foreach (var run in page.Runs)
        {
            if (!tracked.Contains(run.Id))
            {
                tracked.Track(run.Id, run.DueTime.UtcTicks, run.WorkflowName, run.Kind, run.ScheduleId, run.Overlap);
            }
        }

        _cursor = page.ContinuationToken;
        if (cycleStart)
        {
            foreach (var run in await store.GetExpiredLeasesAsync(now, batchSize, stop).ConfigureAwait(false))
            {
                if (!tracked.Contains(run.Id) && !executingHere(run.Id))
                {
                    tracked.Track(run.Id, now.UtcTicks, run.WorkflowName, run.Kind, run.ScheduleId, run.Overlap);
                }
            }
        }

        return _cursor is not null;
    }
}
