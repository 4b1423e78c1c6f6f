using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Engine.Feed;

/// <summary>
/// The planner's catch-up: what fell due while nothing ran it (runs held while their schedule was paused, occurrences
/// stored ahead and now overdue, fire times never created, an earlier spec's fire times still undecided when it
/// changed), and which of those each schedule's catch-up policy runs.
/// </summary>
internal sealed partial class OccurrencePlanner
{
    /// <summary>
    /// Forgets the runs held while their schedule was paused (resumed or deleted now: the feed loads them again) and
    /// returns, by schedule, those already due: missed occurrences for the catch-up policy, like those due while nothing
    /// ran (with no grace: no instance ran them).
    /// </summary>
    private Dictionary<string, List<(long Ticks, Guid Id)>>? TakeResumed(DateTimeOffset now)
    {
        var unparked = _book.TakeUnparked();
        Dictionary<string, List<(long Ticks, Guid Id)>>? resumed = null;
        foreach (var (schedule, id, ticks) in unparked)
        {
            _tracked.Forget(id);
            if (ticks < now.UtcTicks)
            {
                resumed ??= new(StringComparer.Ordinal);
                if (!resumed.TryGetValue(schedule, out var list))
                {
                    resumed[schedule] = list = [];
                }

                list.Add((ticks, id));
            }
        }

        return resumed;
    }

    /// <summary>
    /// Applies the schedule's catch-up policy to every missed occurrence: those stored ahead that came due while nothing
    /// ran them (<paramref name="stored"/>) and those never created (after the watermark, before now). The kept ones
    /// run (created when not stored); returns the stored ones not kept, to be recorded as skipped.
    /// </summary>
    /// <param name="state">The schedule (or an earlier spec's state, see <see cref="PlannedSchedule.Predecessor"/>).</param>
    /// <param name="now">Now.</param>
    /// <param name="runs">The pass's runs to create: those kept are added.</param>
    /// <param name="stored">Its pending occurrences that fell due while nothing ran them, if any.</param>
    /// <param name="anyDue">Set when anything fell due since its watermark (else there is nothing to persist).</param>
    /// <param name="lastTicks">Fire times after it are not this state's (a later spec's): neither run nor missed here.</param>
    private List<Guid> CatchUp(PlannedSchedule state, DateTimeOffset now, List<ScheduledRun> runs, List<(long Ticks, Guid Id)>? stored, out bool anyDue, long lastTicks = long.MaxValue)
    {
        var spec = state.Spec;
        long windowStart = now.UtcTicks - (state.CatchUpWindow ?? _options.CatchUpWindow).Ticks;
        int keep = state.CatchUp switch
        {
            CatchUpPolicy.ExactlyOncePerInterval => _options.MaxCatchUpRuns,
            CatchUpPolicy.Latest => 1,
            _ => 0,
        };
        // Both are made only when needed: most passes that catch up (a schedule's first, after its creation) miss nothing.
        Queue<(long Ticks, Guid? Id)>? kept = null;
        List<Guid>? dropped = null;
        long missed = 0;
        long from = state.Watermark;
        void Consider(long t, Guid? id)
        {
            missed++;
            if (keep > 0 && t >= windowStart)
            {
                kept ??= new Queue<(long Ticks, Guid? Id)>();
                if (kept.Count == keep && kept.Dequeue() is { Id: { } pushedOut })
                {
                    (dropped ??= []).Add(pushedOut);
                }

                kept.Enqueue((t, id));
            }
            else if (id is { } storedId)
            {
                (dropped ??= []).Add(storedId);
            }
        }

        // A fire time after this scheduler became active (started, or came back from a stall or clock jump) and after
        // the schedule last changed (made, updated, resumed) came due while both were active: it is not missed. One
        // stored is pending for a reason of its own (it waits behind a running one under BufferAll, or for a slot)
        // and is left to run; one never created is late (the feed that creates it came just after its instant, or
        // another instance made the change), and runs under every policy.
        long lateFrom = Math.Max(_activeSinceTicks, Math.Max(_startedTicks, state.ChangedTicks));

        // Stored and never created ones together, in time order (the policy keeps the latest). A fire time that has a
        // stored run is decided about once, as that run: one after the watermark was made by a pass that failed before
        // storing its watermark (here or on another instance), and deciding about it again as never created would skip
        // that run and create a duplicate in its place (refused), so that the fire time never ran.
        stored?.Sort(static (a, b) => a.Ticks.CompareTo(b.Ticks));
        int next = 0;
        void ConsiderStoredBefore(long limit)
        {
            for (; next < stored!.Count && stored[next].Ticks < limit; next++)
            {
                var (ticks, id) = stored[next];
                if (ticks <= lateFrom) // a later one is pending for a reason of its own, and is left to run
                {
                    from = Math.Min(from, ticks - 1);
                    Consider(ticks, id);
                }
            }
        }

        // Fire times past a limit are not occurrences at all: neither run nor missed.
        bool exhausted = state.Limited && state.Remaining <= 0;
        List<long>? late = null;
        long t = spec.NextUtc(state.Watermark);
        for (; !exhausted && t >= 0 && t < now.UtcTicks && t <= lastTicks && missed < MaxOccurrencesCounted; t = spec.NextUtc(t))
        {
            if (stored is { Count: > 0 })
            {
                ConsiderStoredBefore(t + 1);
                if (next > 0 && stored[next - 1].Ticks == t)
                {
                    continue; // decided about as its stored run
                }
            }

            if (t > lateFrom)
            {
                (late ??= []).Add(t);
            }
            else
            {
                Consider(t, null);
            }
        }

        if (stored is { Count: > 0 })
        {
            ConsiderStoredBefore(long.MaxValue);
        }

        long allowed = state.Limited ? state.Remaining : long.MaxValue;
        foreach (var (occurrence, id) in kept ?? [])
        {
            if (id is null && allowed-- > 0)
            {
                runs.Add(NewOccurrence(state, occurrence, now));
            }
        }

        foreach (var occurrence in late ?? [])
        {
            if (allowed-- > 0)
            {
                runs.Add(NewOccurrence(state, occurrence, now));
            }
        }

        long notRun = missed - (kept?.Count ?? 0);
        if (notRun > 0)
        {
            _missed[state.Id] = _missed.GetValueOrDefault(state.Id) + notRun;
            _missedLog.Add((state, from));
        }

        anyDue = missed > 0 || late is not null;
        state.Watermark = Math.Max(state.Watermark, now.UtcTicks - 1);
        return dropped ?? [];
    }

    /// <summary>
    /// Plans the fire times of a schedule's earlier specs that were still to be decided when it changed (see
    /// <see cref="PlannedSchedule.Predecessor"/>): each by its own catch-up policy, from its watermark up to when the
    /// next spec took effect. That watermark is kept in memory only (a store keeps none for a spec no longer current):
    /// should the pass fail, it goes back, and the next plans from there; once the pass succeeds, the state is dropped.
    /// </summary>
    /// <returns>The stored overdue runs left for <paramref name="state"/>'s own spec (those due from its start on).</returns>
    private List<(long Ticks, Guid Id)>? CatchUpPredecessors(PlannedSchedule state, DateTimeOffset now, List<ScheduledRun> runs, List<(long Ticks, Guid Id)>? stored, ref List<(PlannedSchedule State, List<Guid> Ids)>? toSkip)
    {
        int before = runs.Count;
        var mine = stored?.FindAll(r => r.Ticks > LastOfPrevious(state));
        for (var next = state; next.Predecessor is { } old; next = old)
        {
            // The stored runs of its fire times: from its spec's start (from any time, for the oldest) to the next's.
            long last = LastOfPrevious(next);
            var theirs = stored?.FindAll(r => r.Ticks <= last && (r.Ticks > LastOfPrevious(old) || old.Predecessor is null));
            // Its own limit, as it stood (fire times past it were not occurrences, whatever limit the change set), within
            // what the schedule has left.
            long left = state.Limited ? state.Remaining - (runs.Count - before) : long.MaxValue;
            if (old.Limited)
            {
                old.Remaining = Math.Min(old.Remaining, left);
            }

            int beforeOld = runs.Count;
            var skipped = CatchUp(old, now, runs, theirs, out _, last);
            if (skipped.Count > 0)
            {
                (toSkip ??= []).Add((old, skipped));
            }

            // Its fire times not yet due (the change took effect at or after now, by another instance's clock): run at
            // their instants, as they would have.
            long allowed = (old.Limited ? old.Remaining : left) - (runs.Count - beforeOld);
            for (long t = old.Spec.NextUtc(Math.Max(old.Watermark, now.UtcTicks - 1)); t >= 0 && t <= last && allowed-- > 0; t = old.Spec.NextUtc(t))
            {
                runs.Add(NewOccurrence(old, t, now));
            }
        }

        return mine;

        // A spec's fire times start strictly after it took effect (at it, for a code-defined one): up to then, they are the previous spec's.
        static long LastOfPrevious(PlannedSchedule state) => state.SpecSinceTicks - (state.CodeDefined ? 1 : 0);
    }

    /// <summary>
    /// Logs what each schedule's catch-up left unrun, once the pass knows: of the held runs it chose to skip, those
    /// another instance decided about first are not this pass's to report.
    /// </summary>
    private void LogMissed(DateTimeOffset now, Dictionary<string, int>? skippedBySchedule)
    {
        foreach (var (state, from) in _missedLog)
        {
            long notRun = _missed.GetValueOrDefault(state.Id) + (skippedBySchedule?.GetValueOrDefault(state.Id) ?? 0);
            if (notRun <= 0)
            {
                continue;
            }

            if (from >= _activeSinceTicks && from >= _startedTicks)
            {
                // All fell due while this scheduler ran: they were missed only because the schedule was paused.
                Log.OccurrencesMissedWhilePaused(_logger, state.Id, notRun, new DateTimeOffset(from, TimeSpan.Zero), now, state.CatchUp);
            }
            else
            {
                Log.OccurrencesMissed(_logger, state.Id, notRun, new DateTimeOffset(from, TimeSpan.Zero), now, state.CatchUp);
            }
        }

        _missedLog.Clear();
    }

    /// <summary>Pending occurrences due before <paramref name="cutoffTicks"/>, by schedule, in due order.</summary>
    private async Task<Dictionary<string, List<(long Ticks, Guid Id)>>> LoadOverdueAsync(long cutoffTicks, CancellationToken stop)
    {
        var overdue = new Dictionary<string, List<(long Ticks, Guid Id)>>(StringComparer.Ordinal);
        var query = new RunQuery
        {
            Kinds = [RunKind.Occurrence],
            Statuses = [RunStatus.Pending],
            ScheduledTo = new DateTimeOffset(cutoffTicks, TimeSpan.Zero),
            PageSize = 1000,
        };
        do
        {
            var page = await _store.ListAsync(query, stop).ConfigureAwait(false);
            foreach (var run in page.Items)
            {
                if (run.ScheduleId is { } schedule && _book.Find(schedule) is { Runnable: true, Paused: false } && run.DueTime.UtcTicks < cutoffTicks)
                {
                    if (!overdue.TryGetValue(schedule, out var list))
                    {
                        overdue[schedule] = list = [];
                    }

                    list.Add((run.ScheduledTime.UtcTicks, run.Id));
                }
            }

            query = query with { ContinuationToken = page.ContinuationToken };
        }
        while (query.ContinuationToken is not null);
        return overdue;
    }
}
