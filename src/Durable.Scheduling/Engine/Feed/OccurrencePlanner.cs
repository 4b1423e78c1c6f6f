using System.Runtime.InteropServices;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Feed;

/// <summary>
/// Creates the runs of every recurring schedule's occurrences up to the look-ahead horizon (one store call for all),
/// applying each schedule's catch-up policy to occurrences that came due while nothing created them, then advances
/// the stored watermarks. Owned by the loop.
/// </summary>
internal sealed partial class OccurrencePlanner
{
    private const int MaxOccurrencesPerPass = 10_000;
    private const long MaxOccurrencesCounted = 10_000_000;
    private const int MaxKeptScratch = 4096;
    private readonly ISchedulingStore _store;
    private readonly SchedulingOptions _options;
    private readonly TrackedRuns _tracked;
    private readonly ILogger _logger;
    private readonly ScheduleBook _book;
    private readonly CodeSchedules _code;
    private readonly List<PlannedSchedule> _schedules = []; // to plan at the next pass; kept while a pass fails
    private readonly PriorityQueue<PlannedSchedule, long> _quiet = new(); // set aside, by when each comes within the horizon
    private readonly long _startedTicks;
    private readonly Dictionary<string, long> _missed = new(StringComparer.Ordinal); // counted by catch-up, stored at the pass's end
    private readonly List<(PlannedSchedule State, long From)> _missedLog = []; // schedules whose catch-up left some unrun this pass
    private readonly List<ScheduleCountChange> _counts = [];

    // Scratch collections of a pass, reused: a pass runs every poll, and what it allocates adds to the collections
    // that can pause a second's runs.
    private readonly List<ScheduledRun> _runs = [];
    private readonly List<(PlannedSchedule State, long Last)> _advanced = [];
    private readonly List<KeyValuePair<string, DateTimeOffset>> _watermarks = [];
    private readonly Dictionary<string, long> _created = new(StringComparer.Ordinal);
    private readonly List<(PlannedSchedule State, long Watermark)> _prior = []; // the watermarks before a pass, for when it fails
    private bool _firstPass = true;
    private bool _fullPass = true; // every schedule planned, none taken as set aside: the first pass, and after a gap
    private long _lastPassTicks; // the clock reading of the last pass that succeeded
    private long _activeSinceTicks; // since when passes have followed each other without a gap (see CatchUp)

    public OccurrencePlanner(ISchedulingStore store, SchedulingOptions options, ScheduleBook book, CodeSchedules code, TrackedRuns tracked, long startedTicks, ILogger logger)
    {
        _code = code;
        _store = store;
        _options = options;
        _book = book;
        _tracked = tracked;
        _logger = logger;
        _startedTicks = startedTicks;
        _lastPassTicks = startedTicks;
        _activeSinceTicks = startedTicks;
    }

    /// <summary>How many recurring schedules there are.</summary>
    public int Count => _book.Count;

    /// <summary>
    /// Creates the occurrences up to the look-ahead past the next feed (so none falls between two feeds); those due
    /// before <paramref name="wheelHorizonTicks"/> go to the wheel at once.
    /// </summary>
    public async Task MaterializeAsync(DateTimeOffset now, long wheelHorizonTicks, CancellationToken stop)
    {
        // A gap since the last pass that succeeded longer than passes are ever apart (the process stalled, the store
        // was unreachable, or the wall clock jumped ahead): what came due in it came due while nothing ran.
        if (now.UtcTicks - _lastPassTicks > 2 * _options.PollInterval.Ticks)
        {
            _activeSinceTicks = now.UtcTicks;
            _fullPass = true; // schedules set aside may have fallen behind in the gap: each is planned, as after a start
        }

        // A first read, outside the store's planning lock: a process with nothing to plan takes no lock at all.
        await _book.RefreshAsync(stop).ConfigureAwait(false);
        if (_code.Synced && !CollectSchedules(now.UtcTicks))
        {
            Forget(now);
            Passed(now);
            return;
        }

        // One pass at a time among the schedulers sharing the store, and never in the middle of a schedule's update or
        // delete (which hold the same lock from their write to the withdrawal of the occurrences made ahead). What this
        // pass reads under it (schedules, watermarks, remaining runs, stored occurrences) then includes all another
        // holder wrote: a fire time is caught up and counted once, a limit is not overrun by two passes that each read
        // the runs left before the other used them, and no occurrence of a definition replaced meanwhile is created.
        var planning = await _store.EnterPlanningAsync(stop).ConfigureAwait(false);
        await using var planningScope = planning.ConfigureAwait(false);
        await _code.SyncOnceAsync(new DateTimeOffset(_startedTicks, TimeSpan.Zero), stop).ConfigureAwait(false);
        await _book.RefreshAsync(stop).ConfigureAwait(false);
        if (!CollectSchedules(now.UtcTicks))
        {
            Forget(now);
            Passed(now);
            return;
        }

        await PlanUnderLockAsync(now, wheelHorizonTicks, stop).ConfigureAwait(false);
        Passed(now); // a pass that failed (the store unreachable) does not count as running
    }

    /// <summary>The end of the look-ahead of a pass at <paramref name="nowTicks"/>: it creates the occurrences up to it.</summary>
    private long UntilTicks(long nowTicks) => nowTicks + _options.LookAhead.Ticks + _options.PollInterval.Ticks;

    /// <summary>
    /// Lists the schedules this pass plans in <see cref="_schedules"/>; false when there are none. A full pass lists every
    /// schedule; another lists those changed since the last, those whose next fire time has come within the horizon,
    /// and those a pass left unsettled (it failed, or stopped short of the horizon). The others are set aside with
    /// nothing to plan before their next fire time, so a pass over many schedules that fire rarely costs nothing per
    /// schedule. Called again under the store's planning lock, it adds what changed meanwhile.
    /// </summary>
    private bool CollectSchedules(long nowTicks)
    {
        if (_fullPass)
        {
            _quiet.Clear();
            _book.TakeChanged().Clear();
            _schedules.Clear();
            foreach (var schedule in _book.All)
            {
                schedule.Wake(_book.QuietUntil);
                _schedules.Add(schedule);
            }
        }
        else
        {
            var changed = _book.TakeChanged();
            _schedules.AddRange(changed);
            changed.Clear();
            while (_quiet.TryPeek(out var schedule, out long wakeTicks) && wakeTicks <= nowTicks)
            {
                _quiet.Dequeue();
                if (schedule.Quiet && ReferenceEquals(_book.Find(schedule.Id), schedule)) // else changed or deleted since
                {
                    schedule.Wake(_book.QuietUntil);
                    _schedules.Add(schedule);
                }
            }
        }

        // One that used all its runs creates nothing more, but the occurrences it made ahead may have fallen due while
        // nothing ran them (before this start, or in a pause): its catch-up policy decides about those once. One left
        // out here comes back when it changes (a new state is listed as changed).
        _schedules.RemoveAll(s => !ReferenceEquals(_book.Find(s.Id), s) || !s.Runnable || s.Paused || (s.Limited && s.Remaining <= 0 && !_firstPass && !s.Resumed));
        return _schedules.Count > 0;
    }

    /// <summary>
    /// After a pass that succeeded: every schedule it left with nothing to plan before the next horizon is set aside
    /// until its next fire time comes within it (for good, when it has none); the others stay listed for the next.
    /// </summary>
    private void Passed(DateTimeOffset now)
    {
        long until = UntilTicks(now.UtcTicks);
        long span = until - now.UtcTicks;
        _book.QuietUntil = Math.Max(_book.QuietUntil, until);
        int kept = 0;
        for (int i = 0; i < _schedules.Count; i++)
        {
            var schedule = _schedules[i];
            if (schedule.NextTicks > until)
            {
                schedule.Quiet = true;
                _quiet.Enqueue(schedule, schedule.NextTicks - span);
            }
            else if (schedule.NextTicks < 0)
            {
                schedule.Quiet = true; // fires no more: only a change brings it back
            }
            else
            {
                _schedules[kept++] = schedule;
            }
        }

        _schedules.RemoveRange(kept, _schedules.Count - kept);
        if (_schedules.Capacity > MaxKeptScratch && _schedules.Capacity > 4 * kept)
        {
            _schedules.Capacity = Math.Max(MaxKeptScratch, 2 * kept);
        }

        if (_quiet.Count > 1024 && _quiet.Count > 2 * _book.Count)
        {
            // Most entries are of states replaced or deleted since they were set aside: keep only the current ones.
            var current = _quiet.UnorderedItems.Where(e => e.Element.Quiet && ReferenceEquals(_book.Find(e.Element.Id), e.Element)).ToList();
            _quiet.Clear();
            _quiet.EnqueueRange(current);
        }

        _fullPass = false;
        _lastPassTicks = now.UtcTicks;
    }

    /// <summary>Runs held for schedules that no longer plan (deleted, paused again, not runnable): forgotten, so the feed loads them.</summary>
    private void Forget(DateTimeOffset now)
    {
        _ = TakeResumed(now);
        _book.TakeUnparked().Clear();
    }

    /// <summary>A pass, under the store's planning lock, over the schedules <see cref="CollectSchedules"/> listed.</summary>
    private async Task PlanUnderLockAsync(DateTimeOffset now, long wheelHorizonTicks, CancellationToken stop)
    {
        var resumed = TakeResumed(now);
        long until = UntilTicks(now.UtcTicks);
        try
        {
            await PlanAsync(now, wheelHorizonTicks, until, resumed, stop).ConfigureAwait(false);
        }
        catch
        {
            // A pass moves watermarks in memory before its writes: after a failed write, none of that holds. Each goes
            // back to where it was read, and the next pass reads the stored ones again (what was created meanwhile is
            // found again under the same keys), and counts again what it misses. Should a schedule's spec change before
            // then, the store keeps no watermark for its old spec: its fire times are planned from the one read here
            // (see PlannedSchedule.Predecessor).
            foreach (var (state, watermark) in _prior)
            {
                state.Watermark = watermark;
                state.NextTicks = 0;
            }

            foreach (var schedule in _schedules)
            {
                schedule.Loaded = false;
                schedule.NextTicks = 0;
            }

            _missed.Clear();
            _missedLog.Clear();
            _counts.Clear();
            throw;
        }
        finally
        {
            Clear(_prior);
            Clear(_runs); // references to this pass's runs are not kept until the next
            Clear(_advanced);
            _created.Clear();
        }
    }

    /// <summary>
    /// Empties a scratch list. One that a pass over many new schedules (a bulk creation, a start) grew far beyond what
    /// this pass used is cut back, so that peak is not kept for the life of the process; one that passes fill steadily
    /// keeps its size (cutting it every pass would allocate it anew every pass).
    /// </summary>
    private static void Clear<T>(List<T> list)
    {
        int used = list.Count;
        list.Clear();
        if (list.Capacity > MaxKeptScratch && list.Capacity > 4 * used)
        {
            list.Capacity = Math.Max(MaxKeptScratch, 2 * used);
        }
    }

    /// <summary>
    /// Reads again the stored watermark of each schedule that fell behind since it was loaded (resumed, or after a
    /// gap): another instance sharing the store may have caught it up since (at its resume there), and what that one
    /// created, dropped and counted as missed must not be caught up and counted again here. Only behind schedules are
    /// read, so a pass over schedules that keep up reads nothing.
    /// </summary>
    /// <param name="behind">The schedules loaded before this pass whose watermark is behind now (null: none).</param>
    /// <param name="stop">Ends the read.</param>
    private async Task RereadBehindAsync(List<PlannedSchedule>? behind, CancellationToken stop)
    {
        for (int offset = 0; offset < (behind?.Count ?? 0); offset += _options.BatchSize)
        {
            var chunk = behind!.GetRange(offset, Math.Min(_options.BatchSize, behind.Count - offset));
            var stored = await _store.GetWatermarksAsync([.. chunk.Select(s => s.WatermarkKey)], stop).ConfigureAwait(false);
            foreach (var state in chunk)
            {
                if (stored.TryGetValue(state.WatermarkKey, out var watermark) && watermark.UtcTicks > state.Watermark)
                {
                    state.Watermark = watermark.UtcTicks;
                    state.NextTicks = 0; // to be found again from the new watermark
                }
            }
        }
    }

    private async Task PlanAsync(DateTimeOffset now, long wheelHorizonTicks, long until, Dictionary<string, List<(long Ticks, Guid Id)>>? resumed, CancellationToken stop)
    {
        var runs = _runs;
        var advanced = _advanced;
        List<PlannedSchedule>? behind = null;
        foreach (var state in _schedules)
        {
            if (state.Loaded && state.Watermark < now.UtcTicks - 1)
            {
                (behind ??= []).Add(state);
            }
        }

        var unloaded = _schedules.FindAll(s => !s.Loaded);
        for (int offset = 0; offset < unloaded.Count; offset += _options.BatchSize)
        {
            var chunk = unloaded.GetRange(offset, Math.Min(_options.BatchSize, unloaded.Count - offset));
            var keys = new string[chunk.Count]; // the names are made once here (a schedule keeps none)
            for (int i = 0; i < keys.Length; i++)
            {
                keys[i] = chunk[i].WatermarkKey;
            }

            var stored = await _store.GetWatermarksAsync(keys, stop).ConfigureAwait(false);
            for (int i = 0; i < keys.Length; i++)
            {
                var state = chunk[i];
                // A schedule never planned (no watermark stored: made paused, or its first pass failed before storing
                // one) starts when its spec took effect, whichever scheduler plans it first and whenever it started:
                // the fire times since then that nothing created fell due while nothing ran them, and are caught up per
                // policy like any other missed ones. (A code-defined schedule's start instant itself is included, so
                // an interval's first run is then; one made at run time fires first strictly after it was made or
                // changed, as its description previews.)
                // When its spec changed while this planner was behind (the store was unreachable), the fire times
                // between what it had created and the change are planned too (under the new spec: as missed, for the
                // catch-up policy), not left unaccounted for.
                long since = state.Watermark > 0 ? Math.Min(state.Watermark, state.SpecSinceTicks) : state.SpecSinceTicks;
                state.Watermark = stored.TryGetValue(keys[i], out var watermark)
                    ? watermark.UtcTicks
                    : since - (state.CodeDefined ? 1 : 0);
                state.Loaded = true;
            }
        }

        await RereadBehindAsync(behind, stop).ConfigureAwait(false);

        // Where each watermark stands before this pass moves it, as read: where it goes back to should the pass fail.
        foreach (var schedule in _schedules)
        {
            for (var state = schedule; state is not null; state = state.Predecessor)
            {
                _prior.Add((state, state.Watermark));
            }
        }

        foreach (var state in _schedules)
        {
            if (state.Limited && state.Remaining > 0 && state.NextTicks >= 0 && state.NextTicks <= until)
            {
                // Another instance may have used some of its runs: read what remains before creating any.
                state.Remaining = (await _store.GetScheduleAsync(state.Id, stop).ConfigureAwait(false))?.RemainingRuns ?? 0;
            }
        }

        // After a start, a wall-clock jump, or any gap (a schedule whose watermark fell behind): occurrences created
        // ahead that came due while nothing ran them are missed too, and the catch-up policy decides about them with
        // the others. A grace of one poll leaves alone what another live instance is about to run; at this scheduler's
        // first pass, whatever fell due before it started is missed here in any case (a live instance runs an
        // occurrence at its instant), so a restart a moment after a fire time applies the policy to that one too.
        Dictionary<string, List<(long Ticks, Guid Id)>>? overdue = null;
        if (_firstPass || _schedules.Exists(p => p.Watermark < now.UtcTicks - 1 || p.Predecessor is not null))
        {
            long cutoff = now.UtcTicks - _options.PollInterval.Ticks;
            overdue = await LoadOverdueAsync(_firstPass ? Math.Max(cutoff, _startedTicks) : cutoff, stop).ConfigureAwait(false);
        }

        foreach (var (schedule, parked) in resumed ?? [])
        {
            overdue ??= new(StringComparer.Ordinal);
            if (overdue.TryGetValue(schedule, out var list))
            {
                list.AddRange(parked.Where(p => !list.Exists(o => o.Id == p.Id)));
                list.Sort((a, b) => a.Ticks.CompareTo(b.Ticks));
            }
            else
            {
                overdue[schedule] = parked;
            }
        }

        List<(PlannedSchedule State, List<Guid> Ids)>? toSkip = null;
        foreach (var state in _schedules)
        {
            var spec = state.Spec;
            if (state.Predecessor is null && overdue?.ContainsKey(state.Id) != true && state.Watermark >= now.UtcTicks - 1)
            {
                if (state.Watermark >= until)
                {
                    continue;
                }

                // Nothing due before the horizon (its next fire time is known): no spec is evaluated. (After the pass
                // such a schedule is set aside, and later passes do not list it until its next fire time comes near.)
                if (state.NextTicks == 0)
                {
                    state.NextTicks = spec.NextUtc(state.Watermark);
                }

                if (state.NextTicks < 0 || state.NextTicks > until)
                {
                    state.Watermark = until;
                    continue;
                }
            }

            int before = runs.Count;
            var stored = overdue?.GetValueOrDefault(state.Id);
            if (state.Predecessor is not null)
            {
                stored = CatchUpPredecessors(state, now, runs, stored, ref toSkip);
            }

            long early = runs.Count - before; // made for the fire times of earlier specs: they count against a limit too
            // One that used all its runs has only its stored occurrences to decide about (nothing to create or count
            // beyond them, and no watermark to move for them).
            bool caughtUp = stored is { Count: > 0 } || (state.Watermark < now.UtcTicks - 1 && !(state.Limited && state.Remaining - early <= 0));
            if (caughtUp)
            {
                if (state.Limited)
                {
                    state.Remaining -= early;
                }

                var skipped = CatchUp(state, now, runs, stored, out bool anyDue);
                if (state.Limited)
                {
                    state.Remaining += early;
                }

                caughtUp = anyDue; // else nothing fell due since its watermark: nothing to persist (a start with many schedules writes none)
                if (skipped.Count > 0)
                {
                    (toSkip ??= []).Add((state, skipped));
                }
            }

            long from = Math.Max(state.Watermark, now.UtcTicks - 1);
            long last = from;
            long allowed = state.Limited ? Math.Max(0, state.Remaining - (runs.Count - before)) : long.MaxValue;
            long t = spec.NextUtc(from);
            for (; t >= 0 && t <= until && runs.Count - before < MaxOccurrencesPerPass && allowed > 0; t = spec.NextUtc(t))
            {
                runs.Add(NewOccurrence(state, t, now));
                last = t;
                allowed--;
            }

            state.NextTicks = t > until ? t : 0; // the next fire time past the horizon, or unknown

            if (runs.Count > before || caughtUp)
            {
                // Persist what was handled, including occurrences a policy dropped, so they are not counted again.
                advanced.Add((state, runs.Count > before ? Math.Max(runs[^1].ScheduledTime.UtcTicks, now.UtcTicks - 1) : now.UtcTicks - 1));
            }

            // Stopped short of the horizon (the pass's cap, or the runs the limit left, which occurrences another
            // instance made already may have taken): the next pass goes on from the last one made.
            state.Watermark = runs.Count - before >= MaxOccurrencesPerPass || (allowed == 0 && t >= 0 && t <= until) ? last : Math.Max(last, until);
        }

        Dictionary<string, int>? skippedBySchedule = null;
        foreach (var (state, ids) in toSkip ?? [])
        {
            var reason = new RunError("Durable.Scheduling.CatchUpPolicy", $"Missed while nothing ran it; not run under catch-up policy {state.CatchUp} (window {state.CatchUpWindow ?? _options.CatchUpWindow}, at most {_options.MaxCatchUpRuns} runs).");
            int skipped = 0;
            foreach (var id in await _store.SkipPendingAsync(ids, now, reason, stop).ConfigureAwait(false))
            {
                _tracked.Remove(id);
                skipped++;
            }

            // Those it skipped are counted now, not with the rest at the pass's end: should a later write of the pass
            // fail, the next pass no longer finds them pending, and would not count them. Those it did not skip were
            // decided about by another instance first (it resumed the schedule there, ran or skipped them): its to count.
            if (_missed.TryGetValue(state.Id, out long counted))
            {
                _missed[state.Id] = Math.Max(0, counted - ids.Count);
            }

            if (skipped > 0)
            {
                _counts.Add(Missed(state.Id, skipped));
                (skippedBySchedule ??= new(StringComparer.Ordinal))[state.Id] = skipped;
            }
        }

        LogMissed(now, skippedBySchedule);

        await StoreCountsAsync(stop).ConfigureAwait(false);

        if (runs.Count > 0)
        {
            var created = _created;
            foreach (var result in await _store.InsertAsync(runs, stop).ConfigureAwait(false))
            {
                var run = result.Run;
                if (result.Created)
                {
                    CollectionsMarshal.GetValueRefOrAddDefault(created, run.ScheduleId!, out _)++;
                }

                if (run.Status == RunStatus.Pending && run.DueTime.UtcTicks <= wheelHorizonTicks && !_tracked.Contains(run.Id))
                {
                    _tracked.Track(run.Id, run.DueTime.UtcTicks, run.WorkflowName, run.Kind, run.ScheduleId, run.Overlap);
                }
            }

            foreach (var (id, count) in created)
            {
                // A limited schedule's remaining runs go as its occurrences are created (the Runs counter moves when a
                // run is first claimed, in the store).
                if (_book.Find(id) is { Limited: true } state)
                {
                    state.Remaining -= count;
                    _counts.Add(new ScheduleCountChange(id, ScheduleCounters.Zero, count));
                }
            }

            // Before the watermarks: another instance that reads a watermark past these runs then reads the runs they
            // used, and does not create runs beyond the limit in their place.
            await StoreCountsAsync(stop).ConfigureAwait(false);
        }

        // Only now that the runs exist: a crash before this point re-creates them (idempotently) on restart.
        if (advanced.Count > 0)
        {
            foreach (var (state, last) in advanced)
            {
                _watermarks.Add(KeyValuePair.Create(state.WatermarkKey, new DateTimeOffset(last, TimeSpan.Zero)));
            }

            try
            {
                await _store.AdvanceWatermarksAsync(_watermarks, stop).ConfigureAwait(false);
            }
            finally
            {
                Clear(_watermarks);
            }
        }

        foreach (var (id, missed) in _missed)
        {
            if (missed > 0)
            {
                _counts.Add(Missed(id, missed));
            }
        }

        _missed.Clear();
        await StoreCountsAsync(stop).ConfigureAwait(false);

        _firstPass = false; // only once a pass has been stored: a failed first pass is retried as the first
        foreach (var state in _schedules)
        {
            state.Resumed = false;
            state.Predecessor = null; // planned
        }
        _book.TakeUnparked().Clear(); // the resumed runs this pass decided about (kept for the next pass if it failed)
    }

    /// <summary>The change that counts <paramref name="missed"/> occurrences of a schedule missed, with its metric.</summary>
    private static ScheduleCountChange Missed(string id, long missed) => new(id, new ScheduleCounters { Missed = missed });

    /// <summary>
    /// Adds the counts gathered to the store, then tells the missed ones to the meter: only once stored, so a pass that
    /// fails before and is retried (counting them again) does not report them twice.
    /// </summary>
    private async Task StoreCountsAsync(CancellationToken stop)
    {
        if (_counts.Count == 0)
        {
            return;
        }

        await _store.AddScheduleCountsAsync(_counts, stop).ConfigureAwait(false);
        foreach (var change in _counts)
        {
            if (change.Delta.Missed > 0)
            {
                SchedulingTelemetry.OccurrencesMissed.Add(change.Delta.Missed, new KeyValuePair<string, object?>("workflow", _book.Find(change.ScheduleId)?.Workflow), new KeyValuePair<string, object?>("schedule", change.ScheduleId));
            }
        }

        _counts.Clear();
    }

    private static ScheduledRun NewOccurrence(PlannedSchedule schedule, long ticks, DateTimeOffset now) =>
        new()
        {
            Id = RunIds.Next(now),
            WorkflowName = schedule.Workflow,
            ScheduleId = schedule.Id,
            Kind = RunKind.Occurrence,
            ScheduledTime = new DateTimeOffset(ticks, TimeSpan.Zero),
            DueTime = new DateTimeOffset(ticks + schedule.Spec.JitterFor(schedule.Id, ticks), TimeSpan.Zero),
            Status = RunStatus.Pending,
            Input = schedule.Input,
            Metadata = schedule.Metadata,
            CreatedAt = now,
        };
}
