using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// Deletes ended runs older than <see cref="SchedulingOptions.RunRetention"/>: a batch a minute; while whole batches
/// come back, up to <see cref="MaxBatchesPerFeed"/> batches every feed (so purging keeps up with runs ending many
/// batches a second), each only while no run is due soon. Owned by the loop.
/// </summary>
internal sealed class Purger(ISchedulingStore store, TimeProvider time, TimeSpan? retention, int batchSize)
{
    /// <summary>The most batches one feed purges.</summary>
    public const int MaxBatchesPerFeed = 10;

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
            purged = await store.PurgeAsync(now - keep, batchSize, stop).ConfigureAwait(false);
        }
        while (purged >= batchSize && ++batches < MaxBatchesPerFeed && mayGoOn(time.GetUtcNow()));

        _nextTicks = purged >= batchSize ? now.UtcTicks : now.UtcTicks + TimeSpan.TicksPerMinute;
    }
}
