using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Feed;

/// <summary>
/// Creates the runs of every recurring schedule's occurrences up to the look-ahead horizon (one store call for all),
/// applying each schedule's catch-up policy to occurrences that came due while nothing created them, then advances
/// the stored watermarks. Owned by the loop.
/// </summary>
internal sealed class OccurrencePlanner
{
    private const int MaxOccurrencesPerPass = 10_000;
    private const long MaxOccurrencesCounted = 10_000_000;
    private readonly ISchedulingStore _store;
    private readonly SchedulingOptions _options;
    private readonly TrackedRuns _tracked;
    private readonly ILogger _logger;
    private readonly List<PlannedSchedule> _schedules = [];
    private readonly long _startedTicks;

    public OccurrencePlanner(ISchedulingStore store, SchedulingOptions options, IEnumerable<WorkflowDescriptor> workflows, TrackedRuns tracked, long startedTicks, ILogger logger)
    {
        _store = store;
        _options = options;
        _tracked = tracked;
        _logger = logger;
        _startedTicks = startedTicks;
        foreach (var workflow in workflows)
        {
            if (workflow.Schedule is not null)
            {
                _schedules.Add(new PlannedSchedule(workflow));
            }
        }
    }

    /// <summary>How many recurring schedules there are.</summary>
    public int Count => _schedules.Count;

    /// <summary>
    /// Creates the occurrences up to the look-ahead past the next feed (so none falls between two feeds); those due
    /// before <paramref name="wheelHorizonTicks"/> go to the wheel at once.
    /// </summary>
    public async Task MaterializeAsync(DateTimeOffset now, long wheelHorizonTicks, CancellationToken stop)
    {
        if (_schedules.Count == 0)
        {
            return;
        }

        long until = now.UtcTicks + _options.LookAhead.Ticks + _options.PollInterval.Ticks;
        var runs = new List<ScheduledRun>();
        var advanced = new List<(PlannedSchedule State, long Last)>();
        foreach (var state in _schedules)
        {
            var schedule = state.Schedule;
            if (!state.Loaded)
            {
                // A schedule never run starts at this scheduler's start: occurrences since then that could not be
                // created (the store was unreachable) are caught up per policy like any other missed ones.
                state.Watermark = (await _store.GetWatermarkAsync(state.Workflow.Name, stop).ConfigureAwait(false))?.UtcTicks ?? _startedTicks - 1;
                state.Loaded = true;
            }

            if (state.Watermark >= until)
            {
                continue;
            }

            int before = runs.Count;
            bool caughtUp = state.Watermark < now.UtcTicks - 1;
            if (caughtUp)
            {
                CatchUp(state, now, runs);
            }

            long from = Math.Max(state.Watermark, now.UtcTicks - 1);
            long last = from;
            for (long t = schedule.Cron.NextUtc(from, schedule.Zone, inclusive: false); t >= 0 && t <= until && runs.Count - before < MaxOccurrencesPerPass; t = schedule.Cron.NextUtc(t, schedule.Zone, inclusive: false))
            {
                runs.Add(NewOccurrence(state.Workflow.Name, t, now));
                last = t;
            }

            if (runs.Count > before || caughtUp)
            {
                // Persist what was handled, including occurrences a policy dropped, so they are not counted again.
                advanced.Add((state, runs.Count > before ? Math.Max(runs[^1].ScheduledTime.UtcTicks, now.UtcTicks - 1) : now.UtcTicks - 1));
            }

            state.Watermark = runs.Count - before >= MaxOccurrencesPerPass ? last : Math.Max(last, until);
        }

        if (runs.Count > 0)
        {
            foreach (var result in await _store.InsertAsync(runs, stop).ConfigureAwait(false))
            {
                var run = result.Run;
                if (run.Status == RunStatus.Pending && run.DueTime.UtcTicks <= wheelHorizonTicks && !_tracked.Contains(run.Id))
                {
                    _tracked.Track(run.Id, run.DueTime.UtcTicks, run.WorkflowName, run.Kind);
                }
            }
        }

        // Only now that the runs exist: a crash before this point re-creates them (idempotently) on restart.
        foreach (var (state, last) in advanced)
        {
            await _store.AdvanceWatermarkAsync(state.Workflow.Name, new DateTimeOffset(last, TimeSpan.Zero), stop).ConfigureAwait(false);
        }
    }

    private void CatchUp(PlannedSchedule state, DateTimeOffset now, List<ScheduledRun> runs)
    {
        var schedule = state.Schedule;
        long windowStart = now.UtcTicks - _options.CatchUpWindow.Ticks;
        int keep = schedule.CatchUp switch
        {
            CatchUpPolicy.ExactlyOncePerInterval => _options.MaxCatchUpRuns,
            CatchUpPolicy.Latest => 1,
            _ => 0,
        };
        var kept = new Queue<long>(Math.Min(keep, 1024));
        long missed = 0;
        long t = schedule.Cron.NextUtc(state.Watermark, schedule.Zone, inclusive: false);
        for (; t >= 0 && t < now.UtcTicks && missed < MaxOccurrencesCounted; t = schedule.Cron.NextUtc(t, schedule.Zone, inclusive: false))
        {
            missed++;
            if (keep > 0 && t >= windowStart)
            {
                if (kept.Count == keep)
                {
                    kept.Dequeue();
                }

                kept.Enqueue(t);
            }
        }

        foreach (long occurrence in kept)
        {
            runs.Add(NewOccurrence(state.Workflow.Name, occurrence, now));
        }

        long dropped = missed - kept.Count;
        if (dropped > 0)
        {
            SchedulingTelemetry.OccurrencesMissed.Add(dropped, new KeyValuePair<string, object?>("workflow", state.Workflow.Name));
            Log.OccurrencesMissed(_logger, state.Workflow.Name, dropped, new DateTimeOffset(state.Watermark, TimeSpan.Zero), now, schedule.CatchUp);
        }

        state.Watermark = now.UtcTicks - 1;
    }

    private static ScheduledRun NewOccurrence(string workflow, long ticks, DateTimeOffset now)
    {
        var instant = new DateTimeOffset(ticks, TimeSpan.Zero);
        return new ScheduledRun
        {
            Id = RunIds.Next(now),
            WorkflowName = workflow,
            Kind = RunKind.Occurrence,
            ScheduledTime = instant,
            DueTime = instant,
            Status = RunStatus.Pending,
            CreatedAt = now,
        };
    }
}
