using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// Counts the pending runs of workflows this process does not define (removed from code or renamed), at start-up and
/// every hour, and reports them (a warning naming the workflows, and a metric), so they are never left in silence.
/// Owned by the loop.
/// </summary>
internal sealed class OrphanWatch(ISchedulingStore store, IReadOnlyCollection<string> defined, ILogger logger)
{
    private const int MaxCounted = 10_000;
    private long _nextTicks;

    public async Task CheckIfDueAsync(DateTimeOffset now, CancellationToken stop)
    {
        if (now.UtcTicks < _nextTicks)
        {
            return;
        }

        _nextTicks = now.UtcTicks + TimeSpan.TicksPerHour;
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
}
