using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// Deletes ended runs older than <see cref="SchedulingOptions.RunRetention"/>: a batch a minute; while whole batches
/// come back, up to <see cref="MaxBatchesPerFeed"/> batches every feed (so purging keeps up with runs ending many
/// batches a second), each only while no run is due soon and the scheduler is not stopping. Owned by the loop.
/// </summary>
/// <remarks>
/// A batch is at most <see cref="MaxBatch"/> runs: a durable store deletes each batch in one transaction, which the
/// scheduler waits for when it stops, so a short batch keeps a stop short on a file holding many expired runs.
/// </remarks>
internal sealed class Purger(ISchedulingStore store, TimeProvider time, TimeSpan? retention, int batchSize)
{
    /// <summary>The most runs one batch purges.</summary>
    public const int MaxBatch = 250;

    /// <summary>The most batches one feed purges.</summary>
    public const int MaxBatchesPerFeed = 40;

    private readonly int _batch = Math.Min(batchSize, MaxBatch);

    private long _nextTicks;

    /// <summary>Purges when due; <paramref name="mayGoOn"/> says, between batches, whether no run is due too soon.</summary>
    public async Task PurgeIfDueAsync(DateTimeOffset now, Func<DateTimeOffset, bool> mayGoOn, CancellationToken stop)
    {
        if (retention is not { } keep || now.UtcTicks < _nextTicks)
        {
            return;
        }

        int purged, batches = 0;
        do
        {
            purged = await store.PurgeAsync(now - keep, _batch, stop).ConfigureAwait(false);
        }
        while (purged >= _batch && ++batches < MaxBatchesPerFeed && !stop.IsCancellationRequested && mayGoOn(time.GetUtcNow()));

        _nextTicks = purged >= _batch ? now.UtcTicks : now.UtcTicks + TimeSpan.TicksPerMinute;
    }
}
