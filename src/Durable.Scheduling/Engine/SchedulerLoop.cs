using System.Runtime.CompilerServices;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Claiming;
using Durable.Scheduling.Engine.Completion;
using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Engine.Feed;
using Durable.Scheduling.Engine.Maintenance;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Engine.Timing;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine;

/// <summary>
/// The scheduler's one loop. Each pass: notice a wall-clock jump; forget ended runs and apply the inbox; start runs
/// claimed ahead whose instant came; take from the wheel what is due (or due within the pre-claim window), admit and
/// claim it (leases of runs executing here are renewed first, on their own schedule); otherwise feed (create
/// occurrences, load due runs, purge) when a feed is due and no run is about to start; otherwise sleep until the next instant. It owns the wheel, admission and the claimer; nothing else
/// touches them. No exception escapes: a failing pass is logged and retried after a back-off (a failing feed alone
/// backs off while the runs already loaded keep starting).
/// </summary>
internal sealed class SchedulerLoop
{
    /// <summary>
    /// How long before its due instant a run may be claimed: the store's work (a claim is a write) is done ahead, so at
    /// the instant only the start remains. Runs whose admission depends on what is still running at the instant (an
    /// overlap policy other than AllowAll) are never claimed early.
    /// </summary>
    private static readonly long s_preClaimTicks = TimeSpan.FromMilliseconds(8).Ticks;

    /// <summary>The longest back-off after failures in a row (or the poll interval, when longer).</summary>
    private static readonly TimeSpan s_maxBackOff = TimeSpan.FromMinutes(1);

    /// <summary>A feed (store reads, creating occurrences) waits for a run due within at least this to go first.</summary>
    private static readonly long s_feedGuardTicks = TimeSpan.FromMilliseconds(20).Ticks;

    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;
    private readonly WakeSignal _signal;
    private readonly LoopWait _wait;
    private readonly RunChangeInbox _inbox;
    private readonly ConcurrencySlots _slots;
    private readonly TrackedRuns _tracked;
    private readonly ClockWatch _clock;
    private readonly AdmissionControl _admission;
    private readonly Claimer _claimer;
    private readonly ExecutionTracker _executions;
    private readonly CompletionWriter _writer;
    private readonly DueFeeder _feeder;
    private readonly OccurrencePlanner _planner;
    private readonly ScheduleBook _book;
    private readonly LeaseRenewer _renewer;
    private readonly Purger _purger;
    private readonly OwnedRunRecovery _recovery;
    private readonly OrphanWatch _orphans;
    private readonly ILogger _logger;
    private readonly List<WheelNode> _due = [];
    private long _nextFeedTicks;
    private int _failures; // passes failed in a row: the back-off doubles with each, up to MaxBackOff
    private int _feedFailures; // feeds failed in a row (while runs loaded before keep starting): their own back-off
    private long _lastPassTicks = long.MaxValue;
    private bool _failedLast; // the previous pass threw: this one must end before the loop counts as progressing again
    private bool _feedFirst; // after a gap or a jump: the catch-up policy decides about overdue runs before any starts
    private long _changedDueTicks = long.MaxValue; // the earliest due time of runs another process changed since the last pass
    private long _lastFeedTicks;
    private long _slowFeedTicks; // the slowest recent feed, decaying (scheduler's clock: fake time keeps it at zero)
    private volatile bool _stopped;

    public SchedulerLoop(SchedulerParts parts)
    {
        _options = parts.Options;
        _time = parts.Time;
        _signal = parts.Signal;
        _wait = parts.Wait;
        _inbox = parts.Inbox;
        _slots = parts.Slots;
        _tracked = parts.Tracked;
        _clock = parts.Clock;
        _admission = parts.Admission;
        _claimer = parts.Claimer;
        _executions = parts.Executions;
        _writer = parts.Writer;
        _feeder = parts.Feeder;
        _planner = parts.Planner;
        _book = parts.Book;
        _renewer = parts.Renewer;
        _purger = parts.Purger;
        _recovery = parts.Recovery;
        _orphans = parts.Orphans;
        _logger = parts.Logger;
    }

    /// <summary>True once the loop has ended (stopping).</summary>
    public bool Stopped => _stopped;

    /// <summary>A run changed elsewhere and due this long after the next regular feed is left to that feed.</summary>
    private static readonly long s_notifiedFeedSlackTicks = TimeSpan.FromMilliseconds(100).Ticks;

    /// <summary>Notifications from other processes start a feed at most this often, however many come.</summary>
    private static readonly long s_notifiedFeedGapTicks = TimeSpan.FromMilliseconds(5).Ticks;

    /// <summary>
    /// Another process changed runs, the earliest due at <paramref name="earliestDue"/> (told by a store that implements
    /// <c>IRunChangeNotifications</c>; any thread). If that falls before the next poll would load it, the loop reads the
    /// store again (from the earliest due run) without waiting for the poll; a later run is left to the poll.
    /// </summary>
    public void ChangedElsewhere(DateTimeOffset earliestDue)
    {
        // The next regular feed loads every run due within two polls of it, so a run due well after that feed needs
        // no extra read (nor one due beyond the horizon, which a later feed loads).
        long due = earliestDue.UtcTicks;
        if (due > Volatile.Read(ref _nextFeedTicks) + s_notifiedFeedSlackTicks || due > _time.GetUtcNow().UtcTicks + WheelHorizonTicks(_options))
        {
            return;
        }

        long seen = Volatile.Read(ref _changedDueTicks);
        while (due < seen)
        {
            long found = Interlocked.CompareExchange(ref _changedDueTicks, due, seen);
            if (found == seen)
            {
                _signal.Set();
                return;
            }

            seen = found;
        }
    }

    /// <summary>How the loop is faring (for the health check); written by the loop only.</summary>
    public LoopHealth Health { get; } = new();

    /// <summary>How far ahead runs enter the timer wheel: two poll intervals.</summary>
    public static long WheelHorizonTicks(SchedulingOptions options) => options.PollInterval.Ticks * 2;

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var now = _time.GetUtcNow();
                if (!_failedLast && _feedFailures == 0)
                {
                    Health.Progressed(now.UtcTicks); // the previous pass ended well
                }

                _failedLast = false;
                CheckClock(now);
                Drain(now);
                if (now.UtcTicks - _lastPassTicks > 2 * _options.PollInterval.Ticks)
                {
                    _feedFirst = true; // the loop did not run for longer than it ever sleeps (a frozen process, a fake clock moved far)
                }

                _lastPassTicks = now.UtcTicks;
                if (Volatile.Read(ref _changedDueTicks) != long.MaxValue && Interlocked.Exchange(ref _changedDueTicks, long.MaxValue) != long.MaxValue && _feedFailures == 0)
                {
                    // A run changed elsewhere falls due before the next poll: feed soon (still after a run about to
                    // start, and never more often than the gap, so a burst of notifications costs a few reads).
                    _feeder.Restart();
                    _nextFeedTicks = Math.Min(_nextFeedTicks, Math.Max(now.UtcTicks, _lastFeedTicks + s_notifiedFeedGapTicks));
                }

                if (_feedFirst)
                {
                    await FeedAsync(now, stop).ConfigureAwait(false);
                    _feedFirst = false; // only once it succeeded: a failed feed is retried first, after the back-off
                    continue;
                }

                // Runs claimed ahead start at their instant; then the runs due now or within the pre-claim window are
                // claimed. Feeding (store reads, creating occurrences) never delays a run that is due now.
                _claimer.StartReady(now.UtcTicks);
                if (now.UtcTicks >= _renewer.NextTicks)
                {
                    await _renewer.RenewIfDueAsync(now, stop).ConfigureAwait(false); // before any expired lease is read
                }

                _tracked.Advance(now.UtcTicks + _claimer.PreClaimTicks, _due); // the store's work is done before the instant
                _admission.ReleaseHeld(now.UtcTicks, _due);
                if (_due.Count > 0 || (_admission.HasWaiting && _slots.Active < _slots.Max))
                {
                    _admission.AdmitDue(now.UtcTicks, _due);
                    await _claimer.ClaimAdmittedAsync(now, stop).ConfigureAwait(false);
                    continue;
                }

                if (FeedGoes(now.UtcTicks))
                {
                    await FeedOrBackOffAsync(now, stop).ConfigureAwait(false);
                    continue;
                }

                _writer.WriteStranded();
                _failures = 0;
                if (_feedFailures == 0)
                {
                    Health.Progressed(now.UtcTicks);
                }
                await WaitAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // A failing store is retried after a back-off that doubles with each failure in a row (capped), so an
                // outage is logged a handful of times, not every poll; the first pass that succeeds resets it.
                var delay = BackOff(++_failures);
                _failedLast = true;
                Health.Failed(e, _failures);
                Log.LoopError(_logger, e, delay);
                _feeder.Restart();
                _nextFeedTicks = 0; // feed again (from the start) after the back-off
                await _signal.WaitAsync(delay, stop).ConfigureAwait(false);
                _signal.Reset();
            }
        }

        await _claimer.ReleaseReadyAsync().ConfigureAwait(false);
        _stopped = true;
    }

    /// <summary>
    /// A regular feed. One that fails is retried after its own back-off (doubling with each failure in a row, as the
    /// loop's), while the loop goes on starting the runs it loaded before: a store whose reads or inserts fail now and
    /// then does not hold up runs that are due. Until a feed succeeds, health reports the failure. (The first feed after
    /// a gap is not this one: its catch-up decides before any run starts, so the whole loop waits for it.)
    /// </summary>
    private async Task FeedOrBackOffAsync(DateTimeOffset now, CancellationToken stop)
    {
        try
        {
            await FeedAsync(now, stop).ConfigureAwait(false);
            _feedFailures = 0;
        }
        catch (Exception e) when (!(e is OperationCanceledException && stop.IsCancellationRequested))
        {
            var delay = BackOff(++_feedFailures);
            _failedLast = true;
            Health.Failed(e, _feedFailures);
            Log.LoopError(_logger, e, delay);
            _feeder.Restart();
            _nextFeedTicks = now.UtcTicks + delay.Ticks; // read from the start again, after the back-off
        }
    }

    private TimeSpan BackOff(int failures)
    {
        var cap = _options.PollInterval > s_maxBackOff ? _options.PollInterval : s_maxBackOff;
        double ticks = _options.PollInterval.Ticks * Math.Pow(2, Math.Min(failures - 1, 30));
        return ticks >= cap.Ticks ? cap : TimeSpan.FromTicks((long)ticks);
    }

    private void CheckClock(DateTimeOffset now)
    {
        if (_clock.Observe(now.UtcTicks) is { } jump)
        {
            // The wall clock moved by more than a sleep can explain: re-file the wheel, and let the next feed apply
            // catch-up policies to anything the jump skipped.
            Log.ClockJumped(_logger, jump);
            _claimer.StartReady(long.MaxValue); // claimed just before the jump: their instant is as good as come
            _tracked.Rebuild(now.UtcTicks);
            _feedFirst = true;
        }
    }

    /// <summary>Forgets ended runs (tracking a retry due soon, freeing a schedule's slot) and applies the inbox.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs per run ended and per run added
    private void Drain(DateTimeOffset now)
    {
        long horizon = now.UtcTicks + WheelHorizonTicks(_options);
        foreach (var execution in _executions.TakeEnded())
        {
            if (execution.Retry is { } retry && retry.DueTicks <= horizon && !_tracked.Contains(retry.Id))
            {
                _tracked.Track(retry.Id, retry.DueTicks, retry.WorkflowName, retry.Kind, retry.ScheduleId, retry.Overlap); // a later retry is loaded by the feed
            }

            if (ScheduleKeys.Of(execution.Lease.Run.Kind, execution.Lease.Run.ScheduleId, execution.Lease.Run.WorkflowName) is { } schedule)
            {
                _admission.OccurrenceEnded(schedule, _due);
            }

            _executions.Recycle(execution);
        }

        _inbox.Apply(now.UtcTicks, _tracked, _admission);
        if (_inbox.ApplySchedules(_book, now.UtcTicks) <= _nextFeedTicks + s_notifiedFeedSlackTicks)
        {
            // A schedule changed here fires before the next feed would create its occurrence (or held occurrences were
            // freed): feed now. Others wait for the regular feed, so creating many schedules costs few passes.
            _nextFeedTicks = Math.Min(_nextFeedTicks, now.UtcTicks);
        }
    }

    /// <summary>
    /// Store work, every poll interval (or at once while a batch of due runs remains to read). The wheel holds only
    /// what falls due before the next two polls: runs this process creates reach it at once if due that soon, and the
    /// store is read for the same window, so a run added by another process is loaded at least a poll before it is
    /// due (or within a poll, when it is due at once). Wheel entries so live at most two polls: they die young.
    /// </summary>
    private async Task FeedAsync(DateTimeOffset now, CancellationToken stop)
    {
        long started = _time.GetTimestamp();
        try
        {
            await FeedOnceAsync(now, stop).ConfigureAwait(false);
        }
        finally
        {
            long took = _time.GetElapsedTime(started).Ticks;
            _slowFeedTicks = Math.Max(took, _slowFeedTicks - (_slowFeedTicks >> 3));
        }
    }

    /// <summary>
    /// How far the next start must be for a feed to go first: the pre-claim window (the next run is claimed that much
    /// before its instant) plus twice the slowest recent feed; at least 20 ms, and at most half a poll (so feeds still
    /// find gaps between runs). A large schedule book or a durable store's reads can make a feed last tens of
    /// milliseconds; a fixed guard let such a feed begin just before a claim was due and delay that run's start.
    /// </summary>
    private long FeedGuardTicks => Math.Max(s_feedGuardTicks, Math.Min(_claimer.PreClaimTicks + (2 * _slowFeedTicks), _options.PollInterval.Ticks / 2));

    private async Task FeedOnceAsync(DateTimeOffset now, CancellationToken stop)
    {
        _lastFeedTicks = now.UtcTicks;
        _nextFeedTicks = now.UtcTicks + _options.PollInterval.Ticks;
        long horizon = now.UtcTicks + WheelHorizonTicks(_options);
        await _recovery.RecoverOnceAsync(_claimer.Owner, stop).ConfigureAwait(false);
        await _planner.MaterializeAsync(now, horizon, stop).ConfigureAwait(false);
        if (await _feeder.LoadAsync(now, new DateTimeOffset(horizon, TimeSpan.Zero), loadDue: !_admission.HasWaiting, stop).ConfigureAwait(false))
        {
            _nextFeedTicks = now.UtcTicks; // more to read: read the next batch right away
        }

        Health.Overdue(CountOverdue());
        _orphans.StartIfDue(now, stop);
        await _purger.PurgeIfDueAsync(now, at => NextStartTicks() - at.UtcTicks > FeedGuardTicks, stop).ConfigureAwait(false);
    }

    /// <summary>
    /// Handlers running on past their timeout (a walk over what runs: once a feed, not per pass). One that returned
    /// since this pass began is still listed, and counted until the next feed.
    /// </summary>
    private int CountOverdue()
    {
        int overdue = 0;
        for (var execution = _executions.Executions.First; execution is not null; execution = execution.Next)
        {
            if (execution.TimedOut)
            {
                overdue++;
            }
        }

        return overdue;
    }

    /// <summary>
    /// Whether the feed goes now. A feed takes milliseconds to tens of them: it lets a run due within the guard (which
    /// follows how long feeds take), and runs waiting for a concurrency slot, go first, unless it is already a whole
    /// poll late.
    /// </summary>
    private bool FeedGoes(long now) =>
        now >= _nextFeedTicks &&
        ((NextStartTicks() - now > FeedGuardTicks && !_admission.HasWaiting) || now >= _nextFeedTicks + _options.PollInterval.Ticks);

    private async Task WaitAsync(CancellationToken stop)
    {
        if (!_inbox.IsEmpty)
        {
            return;
        }

        long now = _time.GetUtcNow().UtcTicks;
        if (FeedGoes(now))
        {
            // It came due since the pass read the clock (store work in the pass takes time): go round, rather than
            // sleep until the next start or a poll with the feed left out of the wait.
            return;
        }

        // Wake for the next start (precisely), the next pre-claim (a little before a due instant; no precision needed)
        // or the next feed, whichever comes first (a postponed feed waits for that run).
        long nextStart = NextOutsideWheelTicks();
        long nextDue = _tracked.NextDueTicks();
        long nextClaim = nextDue == long.MaxValue ? long.MaxValue : nextDue - _claimer.PreClaimTicks;
        long next = Math.Min(nextStart, nextClaim);
        // A feed put off for a run about to start waits for that run, or for a slot, but a whole poll at most.
        next = Math.Min(next, _nextFeedTicks > now ? _nextFeedTicks : _nextFeedTicks + _options.PollInterval.Ticks);

        next = Math.Min(next, _renewer.NextTicks);

        if (next <= now)
        {
            return;
        }

        await _wait.WaitAsync(now, nextStart, next, _slots.Wanted, stop).ConfigureAwait(false);
    }

    /// <summary>The earliest instant at which a run should start: in the wheel, held, or claimed ahead.</summary>
    private long NextStartTicks() => Math.Min(_tracked.NextDueTicks(), NextOutsideWheelTicks());

    /// <summary>When the loop should next act for a run held or claimed ahead (out of the wheel, waiting for its instant).</summary>
    private long NextOutsideWheelTicks() => Math.Min(_claimer.NextReadyTicks(), _admission.NextHeldTicks());
}
