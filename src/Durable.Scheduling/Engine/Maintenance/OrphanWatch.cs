using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// Counts the pending runs of workflows this process does not define (removed from code or renamed), at start-up and
/// every hour, and reports them (a warning naming the workflows, and a metric), so they are never left in silence.
/// Started by the loop, counted beside it: the count reads every pending run, which takes seconds on a large durable
/// store, and the loop must not wait for it.
/// </summary>
internal sealed class OrphanWatch(ISchedulingStore store, IReadOnlyCollection<string> defined, ILogger logger)
{
    private const int MaxCounted = 10_000;
    private long _nextTicks;
    private volatile Task _counting = Task.CompletedTask; // written by the loop, read by the host (idle, stop)

    /// <summary>True while no count is in progress.</summary>
    public bool Idle => _counting.IsCompleted;

    /// <summary>The count in progress (a completed task when none is); it never faults, and ends soon after the stop token is cancelled.</summary>
    public Task Counting => _counting;

    /// <summary>Starts a count on the thread pool when one is due and none is running, and returns at once.</summary>
    public void StartIfDue(DateTimeOffset now, CancellationToken stop)
    {
        if (now.UtcTicks < _nextTicks || !_counting.IsCompleted)
        {
            return;
        }

        _nextTicks = now.UtcTicks + TimeSpan.TicksPerHour;
        _counting = Task.Run(() => CountAsync(stop), CancellationToken.None);
    }

    private async Task CountAsync(CancellationToken stop)
    {
        try
        {
            var query = new RunQuery { ExcludedWorkflowNames = defined, Statuses = [RunStatus.Pending], PageSize = 1000 };
            int count = 0;
            var workflows = new SortedSet<string>(StringComparer.Ordinal);
            do
            {
                var page = await store.ListAsync(query, stop).ConfigureAwait(false);
                count += page.Items.Count;
                foreach (var run in page.Items)
                {
                    workflows.Add(run.WorkflowName);
                }

                query = query with { ContinuationToken = page.ContinuationToken };
            }
            while (query.ContinuationToken is not null && count < MaxCounted);

            if (count > 0)
            {
                SchedulingTelemetry.OrphanedRunsFound.Add(count);
                Log.OrphanedRuns(logger, count, string.Join(", ", workflows.Take(20)));
            }
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // Stopping (the store may be closing under it; stop does not wait for a report): the next start counts again.
        }
        catch (Exception e)
        {
            // Only a report: a store failing now is retried at the next hour's count (the loop reports the outage).
            Log.OrphanCountFailed(logger, e);
        }
    }
}
