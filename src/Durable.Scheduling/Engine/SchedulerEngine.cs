using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Durable.Scheduling.Storage;

namespace Durable.Scheduling;

/// <summary>
/// The hosted service that runs workflows. One loop owns the timer wheel: it materializes recurring occurrences
/// (idempotently, ahead of time, up to <see cref="SchedulingOptions.LookAhead"/>), loads due runs from the store in
/// batches, waits precisely for the next due instant, claims due runs under a lease and starts them on the thread
/// pool within <see cref="SchedulingOptions.MaxConcurrency"/>. Runs due within a few milliseconds are claimed ahead, so
/// that at their instant only the start remains. Completions are written in batches by whichever handler thread finds
/// no writer active.
/// </summary>
internal sealed class SchedulerEngine : IHostedService, ISchedulerActivity, IDisposable
{
    private static readonly TimeSpan ClockJumpTolerance = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FeedGuard = TimeSpan.FromMilliseconds(20);
    private const int MaxOccurrencesPerPass = 10_000;
    private const int MaxPurgeBatchesPerFeed = 10;
    private const int FirstDispatchChunk = 64; // runs in the first claim at a due instant, so the first start early
    private const long MaxOccurrencesCounted = 10_000_000;
    private static readonly long SpinBeforeParking = Stopwatch.Frequency / 20_000; // 50 µs

    /// <summary>
    /// How long before its due instant a run may be claimed: the store's work (a claim is a write) is done ahead, so at
    /// the instant only the start remains. Runs whose admission depends on what is still running at the instant (an
    /// overlap policy other than AllowAll) are never claimed early.
    /// </summary>
    private static readonly long PreClaimTicks = TimeSpan.FromMilliseconds(8).Ticks;

    // On the real clock, runs claimed ahead are handed to the thread pool this long before their instant, and the pool
    // thread spins until the instant: waking a parked pool thread takes 0.05-0.4 ms on a small VM, which would
    // otherwise be lateness.
    private static readonly long HandOffTicks = TimeSpan.FromMilliseconds(0.5).Ticks;
    private readonly long _handOffTicks;
    private static readonly double TicksToTimestamp = Stopwatch.Frequency / (double)TimeSpan.TicksPerSecond;

    private readonly ISchedulingStore _store;
    private readonly WorkflowRegistry _registry;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IServiceScopeFactory _scopes;
    private readonly IServiceProvider _services;
    private readonly bool _preciseClock;
    private readonly BatchQueue<Command> _inbox = new();
    private readonly BatchQueue<Execution> _completions = new(); // outcome set on each, written by the completion writer
    private readonly BatchQueue<Execution> _ended = new(); // runs whose outcome is stored, for the loop to forget
    private readonly WakeSignal _signal;
    private readonly Dictionary<Guid, WheelNode> _known = new(RunIdComparer.Instance);
    private readonly Dictionary<string, ScheduleState> _schedules = new(StringComparer.Ordinal);
    private readonly ExecutionList _executions = new(); // started and not yet seen ended by the loop; loop-owned
    private readonly TaskCompletionSource _allEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<Waiting> _waiting = new(); // due runs waiting for a concurrency slot, in the order they came due
    private readonly List<WheelNode> _due = [];
    private readonly List<Guid> _claimIds = []; // loop-owned scratch lists, reused by every dispatch
    private readonly List<Claim> _toClaim = [];
    private readonly List<WheelNode> _toSkip = [];
    private readonly Stack<WheelNode> _spareNodes = new(); // nodes of claimed runs, reused by Track (loop-owned)
    private const int MaxSpareNodes = 4096;
    private readonly Stack<Execution> _spareExecutions = new(); // executions seen ended, reused by Start (loop-owned)
    private readonly List<Execution> _starting = []; // started by this pass, handed to the thread pool by Launch
    private const int MaxSpareExecutions = 1024;
    private readonly List<RunLease> _ready = []; // claimed ahead of their due instant, in due order, from _readyStart on
    private readonly List<WheelNode> _held = []; // due within the pre-claim window but not claimable early
    private int _readyStart;
    private volatile int _readyCount;
    private readonly CancellationTokenSource _stopping = new();
    private TimerWheel? _wheel;
    private Task _loop = Task.CompletedTask;
    private Task _drain = Task.CompletedTask; // the latest completion writer
    private int _draining; // 1 while one thread writes queued completions
    [ThreadStatic] private static SchedulerEngine? t_batchEngine; // set while this thread runs a StartBatch's handlers
    private readonly List<Execution> _drainBatch = []; // owned by the thread holding _draining
    private readonly List<RunCompletion> _drainCompletions = [];
    private string? _feedCursor;
    private long _nextFeedTicks;
    private long _nextRenewTicks;
    private long _nextPurgeTicks;
    private long _lastNowTicks;
    private long _startedTicks;
    private readonly int _slotWakeAt; // a run ending wakes the loop for waiting runs once at most this many are active
    private static readonly TimeSpan SlotPoll = TimeSpan.FromMilliseconds(1);
    private int _activeCount; // runs claimed or being claimed whose handler has not returned
    private bool _slotWanted; // runs wait in _waiting for a concurrency slot
    private int _running;
    private int _disposed;
    private volatile bool _loopStopped;
    private bool _ownReleased;
    private readonly HashSet<string> _unknownWorkflows = new(StringComparer.Ordinal);
    private string _owner = "";

    public SchedulerEngine(ISchedulingStore store, WorkflowRegistry registry, IOptions<SchedulingOptions> options, IServiceScopeFactory scopes, IServiceProvider services, ILogger<SchedulerEngine>? logger = null)
    {
        _store = store;
        _registry = registry;
        _options = options.Value;
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _preciseClock = ReferenceEquals(_time, TimeProvider.System);
        _handOffTicks = _preciseClock ? HandOffTicks : 0;
        _logger = logger ?? NullLogger<SchedulerEngine>.Instance;
        _scopes = scopes;
        _services = services;
        _signal = new WakeSignal(_time);

        // Under load on the real clock, slots are handed out in batches (half of them at a time) rather than one
        // wake of the loop per run ending; the loop also looks every millisecond while runs wait (see WaitAsync).
        _slotWakeAt = _preciseClock ? _options.MaxConcurrency - Math.Max(1, _options.MaxConcurrency / 2) : _options.MaxConcurrency - 1;
    }

    private enum CommandKind
    {
        Added,
        Removed,
    }

    /// <summary>Starts the scheduler: discovers workflows (throwing on misconfiguration) and starts its loops.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _registry.EnsureDiscovered();
        foreach (var workflow in _registry.All)
        {
            if (workflow.Schedule is not null)
            {
                _schedules.Add(workflow.Name, new ScheduleState(workflow));
            }
        }

        var now = _time.GetUtcNow();
        _owner = _options.InstanceId ?? RunIds.Next(now).ToString("N");
        _startedTicks = now.UtcTicks;
        _wheel = new TimerWheel(now.UtcTicks);
        _lastNowTicks = now.UtcTicks;
        Log.Started(_logger, _registry.All.Count, _schedules.Count);
        _loop = Task.Run(() => LoopAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops: no run starts after this begins; running handlers see their token cancelled and, if interrupted, are
    /// released for a later retry. Returns when all have ended or when <paramref name="cancellationToken"/> (the host's
    /// shutdown timeout) fires, releasing the leases of any still running.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        Log.Stopping(_logger, Volatile.Read(ref _running));
        await _stopping.CancelAsync().ConfigureAwait(false);
        _signal.Set();
        try
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
            WriteStrandedCompletions();
            if (Volatile.Read(ref _running) > 0)
            {
                await _allEnded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The shutdown timeout passed: release what is still running so that it is retried later; a handler that
            // finishes after this is fenced out by its lost lease.
            if (_loop.IsCompleted)
            {
                foreach (var execution in _executions.ToList())
                {
                    await ReleaseQuietlyAsync(execution).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            try
            {
                await Volatile.Read(ref _drain).WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // shutdown timeout: completions not written are retried after their leases expire
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // registered both as itself and as a hosted service, so disposed twice
        }

        _stopping.Cancel();
        _signal.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Tells the loop about a run created, rescheduled or retried (it loads it if it falls due soon).</summary>
    internal void NotifyAdded(ScheduledRun run)
    {
        if (run.Status == RunStatus.Pending)
        {
            Post(new Command(CommandKind.Added, run.Id, run.DueTicks, run.WorkflowName, run.Kind));
        }
        else
        {
            NotifyRemoved(run.Id); // no longer pending: whatever the loop holds for it is stale
        }
    }

    /// <summary>
    /// Tells the loop about a run created at <paramref name="now"/> only if it falls due before the next feed would
    /// load it anyway.
    /// </summary>
    internal void NotifyCreated(ScheduledRun run, DateTimeOffset now)
    {
        if (run.DueTicks <= now.UtcTicks + WheelHorizonTicks)
        {
            NotifyAdded(run);
        }
    }

    /// <summary>Tells the loop a run was deleted (it drops it from the wheel).</summary>
    internal void NotifyRemoved(Guid id) => Post(new Command(CommandKind.Removed, id, 0, null, default));

    /// <inheritdoc />
    public int RunningHandlers => Volatile.Read(ref _running);

    /// <inheritdoc />
    public bool IsIdle =>
        (_signal.IsWaiting || _loopStopped) && _inbox.IsEmpty && _ended.IsEmpty && _completions.IsEmpty && Volatile.Read(ref _draining) == 0 &&
        Volatile.Read(ref _activeCount) == Volatile.Read(ref _running) + _readyCount;

    private void Post(Command command)
    {
        _inbox.Enqueue(command);

        // While runs wait for a concurrency slot nothing new could start: the loop reads the inbox when it next wakes
        // (a slot freed, or at most a millisecond later), with whatever else came meanwhile.
        if (!_preciseClock || !Volatile.Read(ref _slotWanted))
        {
            _signal.Set();
        }
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var now = _time.GetUtcNow();
                CheckClock(now);
                Drain(now);

                // Runs claimed ahead start at their instant; then the runs due now or within the pre-claim window are
                // claimed. Feeding (store reads, creating occurrences) never delays a run that is due now.
                StartReady(now.UtcTicks);
                _wheel!.Advance(now.UtcTicks + PreClaimTicks, _due);
                ReleaseHeld(now.UtcTicks);
                if (_due.Count > 0 || (_waiting.Count > 0 && Volatile.Read(ref _activeCount) < _options.MaxConcurrency))
                {
                    await DispatchAsync(now, stop).ConfigureAwait(false);
                    continue;
                }

                // A feed (store reads, creating occurrences) takes a few milliseconds: it waits for a run due within
                // FeedGuard to go first, unless it is already a whole poll late.
                if (now.UtcTicks >= _nextFeedTicks &&
                    (NextStartTicks() - now.UtcTicks > FeedGuard.Ticks || now.UtcTicks >= _nextFeedTicks + _options.PollInterval.Ticks))
                {
                    await FeedAsync(now, stop).ConfigureAwait(false);
                    continue;
                }

                WriteStrandedCompletions();
                await WaitAsync(stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                Log.LoopError(_logger, e, _options.PollInterval);
                _feedCursor = null;
                _nextFeedTicks = 0; // feed again (from the start) after the back-off
                await _signal.WaitAsync(_options.PollInterval, stop).ConfigureAwait(false);
                _signal.Reset();
            }
        }

        await ReleaseReadyAsync().ConfigureAwait(false);
        _loopStopped = true;
    }

    /// <summary>Starts the runs claimed ahead whose instant has come.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void StartReady(long nowTicks)
    {
        long handOffUntil = nowTicks > long.MaxValue - _handOffTicks ? long.MaxValue : nowTicks + _handOffTicks;
        while (_readyStart < _ready.Count && _ready[_readyStart].Run.DueTicks <= handOffUntil)
        {
            var lease = _ready[_readyStart++];
            Start(lease);
            if (lease.Run.DueTicks > nowTicks)
            {
                // Handed over early: the handler starts when the monotonic clock reaches the instant, never before.
                _starting[^1].StartAt = Stopwatch.GetTimestamp() + (long)((lease.Run.DueTicks - nowTicks) * TicksToTimestamp);
            }
        }

        Launch();

        if (_readyStart == _ready.Count && _readyStart > 0)
        {
            _ready.Clear();
            _readyStart = 0;
        }

        _readyCount = _ready.Count - _readyStart;
    }

    /// <summary>Moves held nodes whose instant has come to the due list.</summary>
    private void ReleaseHeld(long nowTicks)
    {
        for (int i = _held.Count - 1; i >= 0; i--)
        {
            if (_held[i].DueTicks <= nowTicks)
            {
                _due.Add(_held[i]);
                _held.RemoveAt(i);
            }
        }
    }

    /// <summary>The earliest instant at which a run should start: in the wheel, held, or claimed ahead.</summary>
    private long NextStartTicks() => Math.Min(_wheel!.NextDueTicks(), NextOutsideWheelTicks());

    /// <summary>
    /// When the loop should next act for a run held or claimed ahead (out of the wheel, waiting for its instant): a run
    /// claimed ahead is handed over a little before its instant on the real clock (see <see cref="HandOffTicks"/>).
    /// </summary>
    private long NextOutsideWheelTicks()
    {
        long next = _readyStart < _ready.Count ? _ready[_readyStart].Run.DueTicks - _handOffTicks : long.MaxValue;
        foreach (var node in _held)
        {
            next = Math.Min(next, node.DueTicks);
        }

        return next;
    }

    /// <summary>At stop: hands back the runs claimed ahead that have not started, so they stay pending.</summary>
    private async Task ReleaseReadyAsync()
    {
        for (; _readyStart < _ready.Count; _readyStart++)
        {
            var lease = _ready[_readyStart];
            Unreserve(lease.Run.Kind, lease.Run.WorkflowName);
            try
            {
                await _store.ReleaseAsync(lease.Run.Id, lease.Token, lease.Run.DueTime, lease.Run.Error, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Log.CompletionFailed(_logger, e, lease.Run.Id); // its lease expires and the run is claimed again
            }
        }

        _ready.Clear();
        _readyStart = 0;
        _readyCount = 0;
    }

    private async Task WaitAsync(CancellationToken stop)
    {
        if (!_inbox.IsEmpty)
        {
            return;
        }

        var now = _time.GetUtcNow();

        // Wake for the next start (precisely), the next pre-claim (a little before a due instant; no precision needed)
        // or the next feed, whichever comes first (a postponed feed waits for that run).
        long nextStart = NextOutsideWheelTicks();
        long nextDue = _wheel!.NextDueTicks();
        long nextClaim = nextDue == long.MaxValue ? long.MaxValue : nextDue - PreClaimTicks;
        long next = Math.Min(nextStart, nextClaim);
        if (_nextFeedTicks > now.UtcTicks)
        {
            next = Math.Min(next, _nextFeedTicks);
        }

        if (next <= now.UtcTicks)
        {
            return;
        }

        // On the real clock the timer queue may fire milliseconds late: it only sleeps until the precise window
        // before the next start (or until the next claim or feed, which need no precision), and the rest of a wait
        // within that window is precise.
        long coarseUntil = _preciseClock ? Math.Min(next, nextStart - PreciseDelay.Window.Ticks) : next;
        if (coarseUntil <= now.UtcTicks)
        {
            PreciseDelay.Until(Stopwatch.GetTimestamp() + (long)((next - now.UtcTicks) * TicksToTimestamp));
            return;
        }

        bool slotWanted = Volatile.Read(ref _slotWanted);
        if (_preciseClock && !slotWanted && SpinForWake())
        {
            return;
        }

        // Runs waiting for a slot: look again within a millisecond (slots freed below the batch threshold wake nobody).
        var longest = _preciseClock && slotWanted ? SlotPoll : _options.PollInterval;
        var coarse = TimeSpan.FromTicks(Math.Min(coarseUntil - now.UtcTicks, longest.Ticks));
        await _signal.WaitAsync(coarse, stop).ConfigureAwait(false);
        _signal.Reset();
    }

    /// <summary>
    /// Watches the signal for a few microseconds before parking: while runs are being scheduled or are ending one after
    /// another, the next one usually arrives within that time, and parking (a timer change, a task to wake) would cost
    /// more than the wait. Only on the real clock; returns true when woken.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a spin loop: no recompiling while it runs
    private bool SpinForWake()
    {
        long until = Stopwatch.GetTimestamp() + SpinBeforeParking;
        var spinner = default(SpinWait);
        while (Stopwatch.GetTimestamp() < until)
        {
            if (_signal.IsSet)
            {
                _signal.Reset();
                return true;
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }

        return false;
    }

    private void CheckClock(DateTimeOffset now)
    {
        long jump = now.UtcTicks - _lastNowTicks;
        _lastNowTicks = now.UtcTicks;
        if (jump < -ClockJumpTolerance.Ticks || jump > _options.PollInterval.Ticks + _options.LookAhead.Ticks)
        {
            // The wall clock moved by more than a sleep can explain: re-file the wheel, and let the next feed apply
            // catch-up policies to anything the jump skipped.
            Log.ClockJumped(_logger, TimeSpan.FromTicks(jump));
            StartReady(long.MaxValue); // claimed just before the jump: their instant is as good as come
            _wheel!.Rebuild(now.UtcTicks);
            _nextFeedTicks = now.UtcTicks;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs per run ended and per run added (see DispatchAsync)
    private void Drain(DateTimeOffset now)
    {
        long horizon = now.UtcTicks + WheelHorizonTicks;
        foreach (var execution in _ended.TakeAll())
        {
            _executions.Remove(execution);
            if (execution.Retry is { } retry && retry.DueTicks <= horizon && !_known.ContainsKey(retry.Id))
            {
                Track(retry); // the wheel files it for its retry time (a later one is loaded by the feed)
            }

            if (execution.Lease.Run.Kind == RunKind.Occurrence && _schedules.TryGetValue(execution.Lease.Run.WorkflowName, out var state))
            {
                state.Active--;
                if (state.Active == 0 && state.Buffer.Count > 0)
                {
                    _due.Add(state.Buffer.Dequeue());
                }
            }

            // Ended and stored: its handler has returned, its outcome is written and it has left every queue, so
            // nothing refers to it any more and the next start reuses it.
            if (_spareExecutions.Count < MaxSpareExecutions)
            {
                _spareExecutions.Push(execution);
            }
        }

        foreach (var command in _inbox.TakeAll())
        {
            switch (command.Kind)
            {
                case CommandKind.Added:
                    if (_known.Remove(command.Id, out var old))
                    {
                        _wheel!.Remove(old);
                    }

                    if (command.DueTicks <= now.UtcTicks && command.RunKind == RunKind.OneTime)
                    {
                        // Due already: straight to the queue of due runs (claimed in this pass if a slot is free), as
                        // a struct, without a node, the wheel or the known set. The feed loads no runs while runs wait,
                        // so it is never loaded twice (were it, the second claim would simply fail).
                        _waiting.Enqueue(new Waiting(command.Id, command.DueTicks, command.Workflow!, null));
                        _slotWanted = true; // until this pass's dispatch admits it: a slot freed meanwhile wakes the loop
                    }
                    else if (command.DueTicks <= horizon)
                    {
                        Track(command.Id, command.DueTicks, command.Workflow!, command.RunKind);
                    }

                    break;
                case CommandKind.Removed:
                    if (_known.Remove(command.Id, out var removed))
                    {
                        _wheel!.Remove(removed);
                    }

                    break;
            }
        }
    }

    private void Track(ScheduledRun run) => Track(run.Id, run.DueTime.UtcTicks, run.WorkflowName, run.Kind);

    private void Track(Guid id, long dueTicks, string workflow, RunKind kind)
    {
        var node = NewNode(id, dueTicks, workflow, kind);
        node.Tracked = true;
        _known[id] = node;
        _wheel!.Add(node);
    }

    private WheelNode NewNode(Guid id, long dueTicks, string workflow, RunKind kind)
    {
        if (_spareNodes.Count > 0)
        {
            var node = _spareNodes.Pop();
            node.Reuse(id, dueTicks, workflow, kind);
            return node;
        }

        return new WheelNode(id, dueTicks, workflow, kind);
    }

    private async Task FeedAsync(DateTimeOffset now, CancellationToken stop)
    {
        _nextFeedTicks = now.UtcTicks + _options.PollInterval.Ticks;
        if (!_ownReleased)
        {
            // Restarting under a stable instance id: what this instance held when it died is free again at once.
            if (_options.InstanceId is not null)
            {
                int released = await _store.ReleaseOwnedAsync(_owner, stop).ConfigureAwait(false);
                if (released > 0)
                {
                    Log.OwnedReleased(_logger, released, _owner);
                }
            }

            _ownReleased = true;
        }

        if (_schedules.Count > 0)
        {
            await MaterializeAsync(now, stop).ConfigureAwait(false);
        }

        // The wheel holds only what falls due before the next two polls: runs this process creates reach it at once if
        // due that soon, and the store is read for the same window, so a run added by another process is loaded at
        // least a poll before it is due (or within a poll, when it is due at once). Wheel entries so live at most two
        // polls: they die young, and the garbage collector never has to promote them.
        // While runs wait for a concurrency slot, none is loaded: nothing more could start, and runs made due in this
        // process wait untracked (see Drain), so loading them would only file them twice.
        bool cycleStart = _feedCursor is null;
        var page = _waiting.Count > 0
            ? new DuePage([], null)
            : await _store.GetDueAsync(new DateTimeOffset(now.UtcTicks + WheelHorizonTicks, TimeSpan.Zero), _options.BatchSize, _feedCursor, stop).ConfigureAwait(false);
        foreach (var run in page.Runs)
        {
            if (!_known.ContainsKey(run.Id))
            {
                Track(run.Id, run.DueTime.UtcTicks, run.WorkflowName, run.Kind);
            }
        }

        _feedCursor = page.ContinuationToken;
        if (_feedCursor is not null)
        {
            _nextFeedTicks = now.UtcTicks; // more to read: read the next batch right away
        }

        if (cycleStart)
        {
            foreach (var run in await _store.GetExpiredLeasesAsync(now, _options.BatchSize, stop).ConfigureAwait(false))
            {
                if (!_known.ContainsKey(run.Id))
                {
                    Track(run.Id, now.UtcTicks, run.WorkflowName, run.Kind);
                }
            }
        }

        if (now.UtcTicks >= _nextRenewTicks)
        {
            _nextRenewTicks = now.UtcTicks + (_options.LeaseDuration.Ticks / 3);
            foreach (var execution in _executions.ToList())
            {
                if (!await _store.RenewAsync(execution.Lease.Run.Id, execution.Lease.Token, now + _options.LeaseDuration, stop).ConfigureAwait(false))
                {
                    Log.LeaseLost(_logger, execution.Lease.Run.Id, execution.Lease.Run.WorkflowName);
                }
            }
        }

        if (_options.RunRetention is { } retention && now.UtcTicks >= _nextPurgeTicks)
        {
            // A batch a minute; while whole batches come back, up to MaxPurgeBatchesPerFeed batches every feed (so
            // purging keeps up with runs ending many batches a second), each only while no run is due soon.
            int purged, batches = 0;
            do
            {
                purged = await _store.PurgeAsync(now - retention, _options.BatchSize, stop).ConfigureAwait(false);
            }
            while (purged >= _options.BatchSize && ++batches < MaxPurgeBatchesPerFeed && NextStartTicks() - _time.GetUtcNow().UtcTicks > FeedGuard.Ticks);

            _nextPurgeTicks = purged >= _options.BatchSize ? now.UtcTicks : now.UtcTicks + TimeSpan.TicksPerMinute;
        }
    }

    /// <summary>
    /// Creates the runs of every recurring schedule's occurrences up to the look-ahead horizon (one store call for
    /// all), applying each schedule's catch-up policy to occurrences that came due while nothing created them; then
    /// advances the stored watermarks.
    /// </summary>
    private async Task MaterializeAsync(DateTimeOffset now, CancellationToken stop)
    {
        // Up to the look-ahead past the next feed, so no occurrence falls between two feeds.
        long until = now.UtcTicks + _options.LookAhead.Ticks + _options.PollInterval.Ticks;
        var runs = new List<ScheduledRun>();
        var advanced = new List<(ScheduleState State, long Last)>();
        foreach (var state in _schedules.Values)
        {
            var schedule = state.Workflow.Schedule!;
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
                if (result.Run.Status == RunStatus.Pending && result.Run.DueTime.UtcTicks <= now.UtcTicks + WheelHorizonTicks && !_known.ContainsKey(result.Run.Id))
                {
                    Track(result.Run);
                }
            }
        }

        // Only now that the runs exist: a crash before this point re-creates them (idempotently) on restart.
        foreach (var (state, last) in advanced)
        {
            await _store.AdvanceWatermarkAsync(state.Workflow.Name, new DateTimeOffset(last, TimeSpan.Zero), stop).ConfigureAwait(false);
        }
    }

    private void CatchUp(ScheduleState state, DateTimeOffset now, List<ScheduledRun> runs)
    {
        var schedule = state.Workflow.Schedule!;
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

    /// <summary>How far ahead runs enter the timer wheel: two poll intervals.</summary>
    private long WheelHorizonTicks => _options.PollInterval.Ticks * 2;

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

    private async Task DispatchAsync(DateTimeOffset now, CancellationToken stop)
    {
        AdmitDue(now.UtcTicks);
        var toClaim = _toClaim;
        if (stop.IsCancellationRequested)
        {
            foreach (var claim in toClaim)
            {
                Unreserve(claim.Kind, claim.Workflow); // no run starts once stopping has begun; they stay pending in the store
            }

            toClaim.Clear();
            return;
        }

        if (_toSkip.Count > 0)
        {
            await SkipAsync(_toSkip, now, stop).ConfigureAwait(false);
        }

        // A small first claim so the first runs start at once, then whole batches (fewer store round trips). Runs due
        // already are claimed as of now; runs due within the pre-claim window are claimed as of their instant, one
        // instant per claim, and start when it comes.
        for (int offset = 0, chunk = Math.Min(_options.BatchSize, FirstDispatchChunk), end; offset < toClaim.Count; offset = end, chunk = _options.BatchSize)
        {
            end = FillClaimBatch(offset, chunk, now.UtcTicks, out long claimAt);
            var at = claimAt == now.UtcTicks ? now : new DateTimeOffset(claimAt, TimeSpan.Zero);
            IReadOnlyList<RunLease> leases;
            try
            {
                leases = await _store.ClaimAsync(_claimIds, at, _options.LeaseDuration, _owner, stop).ConfigureAwait(false);
            }
            catch
            {
                // Nothing claimed (a failed store call changes nothing): give back the slots of this and later batches
                // and forget the nodes, so the feed loads the runs again after the back-off.
                for (int i = offset; i < toClaim.Count; i++)
                {
                    _known.Remove(toClaim[i].Id);
                    Unreserve(toClaim[i].Kind, toClaim[i].Workflow);
                }

                toClaim.Clear();
                throw;
            }

            if (stop.IsCancellationRequested)
            {
                // Stopping began during the claim: hand the runs back instead of starting them.
                foreach (var lease in leases)
                {
                    await _store.ReleaseAsync(lease.Run.Id, lease.Token, lease.Run.DueTime, lease.Run.Error, CancellationToken.None).ConfigureAwait(false);
                }

                leases = [];
            }

            TakeLeases(leases, offset, end, claimAt > now.UtcTicks);
        }

        toClaim.Clear();
    }

    // The loops below run per due run at a due instant. They are compiled optimized from the first call: a loop first
    // run thousands of times would otherwise be recompiled while it runs (on-stack replacement), stalling that
    // instant's runs for several milliseconds.

    /// <summary>Applies concurrency and overlap policies to the runs due (or due within the pre-claim window).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AdmitDue(long nowTicks)
    {
        _toClaim.Clear();
        _toSkip.Clear();

        // Slots are counted here and reserved with one atomic add: handlers ending meanwhile only make the count high.
        int active = Volatile.Read(ref _activeCount);
        int reserved = 0;
        while (_waiting.Count > 0 && active + reserved < _options.MaxConcurrency)
        {
            var waiting = _waiting.Dequeue();
            if (waiting.Node is { } node ? Admit(node, _toClaim, _toSkip) : AdmitDueOneTime(waiting))
            {
                reserved++;
            }
        }

        if (!InDueOrder(_due))
        {
            _due.Sort(static (a, b) => a.DueTicks.CompareTo(b.DueTicks)); // catch-up and buffers start in order
        }

        foreach (var node in _due)
        {
            if (node.DueTicks > nowTicks && !ClaimableEarly(node))
            {
                _held.Add(node); // admitted at its instant, when what is still running is known
            }
            else if (active + reserved >= _options.MaxConcurrency)
            {
                _waiting.Enqueue(new Waiting(node.Id, node.DueTicks, node.Workflow, node));
            }
            else if (Admit(node, _toClaim, _toSkip))
            {
                reserved++;
            }
        }

        Interlocked.Add(ref _activeCount, reserved);
        _due.Clear();
        Volatile.Write(ref _slotWanted, _waiting.Count > 0);
    }

    /// <summary>Puts the ids of the next claim in <see cref="_claimIds"/>: up to a chunk of runs sharing one claim instant.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int FillClaimBatch(int offset, int chunk, long nowTicks, out long claimAt)
    {
        var toClaim = _toClaim;
        claimAt = Math.Max(nowTicks, toClaim[offset].DueTicks);
        _claimIds.Clear();
        int end = offset;
        for (; end < toClaim.Count && end - offset < chunk && Math.Max(nowTicks, toClaim[end].DueTicks) == claimAt; end++)
        {
            _claimIds.Add(toClaim[end].Id);
        }

        return end;
    }

    /// <summary>
    /// Starts the claimed runs of the claim of nodes <paramref name="offset"/> to <paramref name="end"/> (or keeps them
    /// for their instant when claimed ahead), and forgets those nodes: a run claimed is running (the store no longer
    /// reports it due); one not claimed was claimed elsewhere, deleted, rescheduled or not due after all, and gives its
    /// slot back. The feed reloads a run if it is due again. Leases come in the order of the ids claimed, so one walk
    /// pairs them with their nodes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TakeLeases(IReadOnlyList<RunLease> leases, int offset, int end, bool ahead)
    {
        int next = 0;
        for (int i = offset; i < end; i++)
        {
            var claim = _toClaim[i];
            var node = claim.Node;
            if (node is { Tracked: true })
            {
                _known.Remove(claim.Id);
            }

            if (next < leases.Count && leases[next].Run.Id == claim.Id)
            {
                TakeLease(leases[next++], ahead, claim.Descriptor);
            }
            else
            {
                Unreserve(claim.Kind, claim.Workflow);
            }

            // Claimed or not, nothing refers to the node now (it left the wheel when it fell due, and _toClaim is
            // cleared after the dispatch): the next Track reuses it.
            if (node is { Level: < 0 } && _spareNodes.Count < MaxSpareNodes)
            {
                _spareNodes.Push(node);
            }
        }

        // A store that broke the order: the runs it claimed out of order still start, with their slots taken again.
        for (; next < leases.Count; next++)
        {
            Reserve(leases[next].Run.Kind, leases[next].Run.WorkflowName);
            TakeLease(leases[next], ahead, _registry.Find(leases[next].Run.WorkflowName));
        }

        Launch();
    }

    private void TakeLease(RunLease lease, bool ahead, WorkflowDescriptor? workflow)
    {
        if (ahead)
        {
            AddReady(lease);
        }
        else
        {
            Start(lease, workflow);
        }
    }

    private void Reserve(RunKind kind, string workflow)
    {
        Interlocked.Increment(ref _activeCount);
        if (kind == RunKind.Occurrence && _schedules.TryGetValue(workflow, out var state))
        {
            state.Active++;
        }
    }

    /// <summary>Gives back the concurrency slot (and schedule slot) that <see cref="Admit"/> reserved for a run.</summary>
    private void Unreserve(RunKind kind, string workflow)
    {
        Interlocked.Decrement(ref _activeCount);
        if (kind == RunKind.Occurrence && _schedules.TryGetValue(workflow, out var state))
        {
            state.Active--;
        }
    }

    /// <summary>
    /// True when a run due within the pre-claim window may be claimed before its instant: its admission does not depend
    /// on what is still running then (a one-time run, or an occurrence whose overlap policy is AllowAll).
    /// </summary>
    private bool ClaimableEarly(WheelNode node) =>
        node.Kind != RunKind.Occurrence || !_schedules.TryGetValue(node.Workflow, out var state) || state.Workflow.Schedule!.Overlap == OverlapPolicy.AllowAll;

    /// <summary>Keeps a run claimed ahead until its instant, in due order.</summary>
    private void AddReady(RunLease lease)
    {
        _ready.Add(lease);
        int last = _ready.Count - 1;
        if (last > _readyStart && _ready[last - 1].Run.DueTicks > lease.Run.DueTicks)
        {
            _ready.Sort(_readyStart, _ready.Count - _readyStart, ReadyOrder.Instance);
        }

        _readyCount = _ready.Count - _readyStart;
    }

    private static bool InDueOrder(List<WheelNode> nodes)
    {
        for (int i = 1; i < nodes.Count; i++)
        {
            if (nodes[i - 1].DueTicks > nodes[i].DueTicks)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Applies the overlap policy to a due node: to claim (true: the caller reserves its concurrency slot), buffer or
    /// skip.
    /// </summary>
    private bool Admit(WheelNode node, List<Claim> toClaim, List<WheelNode> toSkip)
    {
        node.Descriptor = _registry.Find(node.Workflow);
        if (node.Descriptor is null)
        {
            // Not defined in this process (another version of the application, during a rolling deployment, may
            // define it): leave the run pending for an instance that can run it. The node stays known, outside the
            // wheel, so the feed does not load it again and again.
            if (_unknownWorkflows.Add(node.Workflow))
            {
                Log.UnknownWorkflow(_logger, node.Workflow);
            }

            return false;
        }

        if (node.Kind == RunKind.Occurrence && _schedules.TryGetValue(node.Workflow, out var state))
        {
            var policy = state.Workflow.Schedule!.Overlap;
            if (policy != OverlapPolicy.AllowAll && state.Active > 0)
            {
                switch (policy)
                {
                    case OverlapPolicy.Skip:
                        toSkip.Add(node);
                        return false;
                    case OverlapPolicy.BufferOne:
                        if (state.Buffer.Count == 0)
                        {
                            state.Buffer.Enqueue(node);
                        }
                        else
                        {
                            toSkip.Add(node);
                        }

                        return false;
                    case OverlapPolicy.BufferAll:
                        state.Buffer.Enqueue(node);
                        return false;
                    case OverlapPolicy.CancelOther:
                        for (var execution = _executions.First; execution is not null; execution = execution.Next)
                        {
                            if (execution.Lease.Run.WorkflowName == node.Workflow)
                            {
                                execution.CancelByOverlap();
                            }
                        }

                        while (state.Buffer.Count > 0)
                        {
                            toSkip.Add(state.Buffer.Dequeue());
                        }

                        state.Buffer.Enqueue(node);
                        return false;
                }
            }

            state.Active++;
        }

        toClaim.Add(new Claim(node.Id, node.DueTicks, node.Kind, node.Workflow, node.Descriptor, node));
        return true;
    }

    /// <summary>
    /// Admits a one-time run filed straight as due (no node: no policy applies to it). False when its workflow is not
    /// defined here: it stays pending in the store, untracked, and the feed loads it like any other run.
    /// </summary>
    private bool AdmitDueOneTime(Waiting run)
    {
        var descriptor = _registry.Find(run.Workflow);
        if (descriptor is null)
        {
            if (_unknownWorkflows.Add(run.Workflow))
            {
                Log.UnknownWorkflow(_logger, run.Workflow);
            }

            return false;
        }

        _toClaim.Add(new Claim(run.Id, run.DueTicks, RunKind.OneTime, run.Workflow, descriptor, null));
        return true;
    }

    private async Task SkipAsync(List<WheelNode> nodes, DateTimeOffset now, CancellationToken stop)
    {
        var leases = await _store.ClaimAsync(nodes.ConvertAll(n => n.Id), now, _options.LeaseDuration, _owner, stop).ConfigureAwait(false);
        var completions = new List<RunCompletion>(leases.Count);
        foreach (var lease in leases)
        {
            var policy = _schedules[lease.Run.WorkflowName].Workflow.Schedule!.Overlap;
            completions.Add(new RunCompletion(lease.Run.Id, lease.Token, RunStatus.Skipped, now, new RunError("Durable.Scheduling.OverlapPolicy", $"Skipped by overlap policy {policy}: an earlier run was still active.")));
            SchedulingTelemetry.OccurrencesSkipped.Add(1, new KeyValuePair<string, object?>("workflow", lease.Run.WorkflowName));
            Log.OccurrenceSkipped(_logger, lease.Run.WorkflowName, lease.Run.ScheduledTime, policy);
        }

        await _store.CompleteAsync(completions, stop).ConfigureAwait(false);
        foreach (var node in nodes)
        {
            _known.Remove(node.Id);
        }
    }

    private void Start(RunLease lease) => Start(lease, _registry.Find(lease.Run.WorkflowName));

    /// <summary>Starts a claimed run of <paramref name="workflow"/> (looked up once, when the run was admitted).</summary>
    private void Start(RunLease lease, WorkflowDescriptor? workflow)
    {
        bool cancellable = workflow?.Timeout is not null || workflow?.Schedule?.Overlap == OverlapPolicy.CancelOther;
        Execution execution;
        if (_spareExecutions.Count > 0)
        {
            execution = _spareExecutions.Pop();
            execution.Reuse(lease, workflow, cancellable, _stopping.Token);
        }
        else
        {
            execution = new Execution(this, lease, workflow, cancellable, _stopping.Token);
        }

        _executions.Add(execution);
        Interlocked.Increment(ref _running);
        _starting.Add(execution);
    }

    /// <summary>
    /// Hands the runs started by this pass to the thread pool: a single run as its own work item; several as one
    /// <see cref="StartBatch"/>, whose threads take them in order and write their outcomes once at the end.
    /// </summary>
    private void Launch()
    {
        if (_starting.Count == 1)
        {
            // The global (FIFO) queue, so runs handed out in due order also start in that order. The execution is the
            // work item itself: nothing else is allocated to queue it.
            ThreadPool.UnsafeQueueUserWorkItem(_starting[0], preferLocal: false);
        }
        else if (_starting.Count > 1)
        {
            new StartBatch(this, [.. _starting]).Launch();
        }

        _starting.Clear();
    }

    private async Task ExecuteAsync(Execution execution)
    {
        var run = execution.Lease.Run;
        if (execution.StartAt != 0)
        {
            PreciseDelay.Spin(execution.StartAt);
        }

        if (_stopping.IsCancellationRequested)
        {
            // Stopping began after the run was handed to the thread pool, before its handler started (it waited for a
            // thread, or behind earlier runs of its batch): no run starts once stopping has begun; it goes back pending.
            Interlocked.Decrement(ref _activeCount);
            Log.RunReleased(_logger, run.Id, run.WorkflowName);
            await ReleaseQuietlyAsync(execution).ConfigureAwait(false);
            Ended(execution);
            return;
        }

        var workflow = execution.Workflow;
        var startedAt = _time.GetUtcNow();
        SchedulingTelemetry.RunsStarted.Add(1, new KeyValuePair<string, object?>("workflow", run.WorkflowName));
        SchedulingTelemetry.ActiveRuns.Add(1);
        SchedulingTelemetry.DispatchLag.Record((startedAt - run.DueTime).TotalMilliseconds, new KeyValuePair<string, object?>("workflow", run.WorkflowName));
        using var activity = SchedulingTelemetry.ActivitySource.StartActivity("durable.scheduling.run", ActivityKind.Internal);
        activity?.SetTag("durable.scheduling.workflow", run.WorkflowName);
        activity?.SetTag("durable.scheduling.run_id", run.Id);
        activity?.SetTag("durable.scheduling.attempt", run.Attempt);
        Log.RunStarted(_logger, run.Id, run.WorkflowName, run.Attempt, run.ScheduledTime);
        Exception? failure = null;
        try
        {
            if (workflow is null)
            {
                throw new InvalidOperationException($"Workflow '{run.WorkflowName}' is not defined in this process.");
            }

            if (workflow.Timeout is { } timeout)
            {
                execution.CancelAfter(timeout, _time);
            }

            var context = workflow.Invoker.TakesContext ? new ScheduledRunContext(run, startedAt, run.Attempt) : null;
            var input = workflow.Invoker.ReadInput(run.Input, _options.JsonSerializerOptions);
            if (workflow.Invoker.NeedsScope)
            {
                var scope = _scopes.CreateAsyncScope();
                await using (scope.ConfigureAwait(false))
                {
                    await workflow.Invoker.InvokeAsync(scope.ServiceProvider, context, input, execution.Token).ConfigureAwait(false);
                }
            }
            else
            {
                await workflow.Invoker.InvokeAsync(_services, context, input, execution.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            failure = e;
        }

        SchedulingTelemetry.ActiveRuns.Add(-1);

        // Free the concurrency slot now (not when the outcome is stored), and wake the loop if runs wait for one.
        if (Interlocked.Decrement(ref _activeCount) <= _slotWakeAt && Volatile.Read(ref _slotWanted))
        {
            _signal.Set();
        }

        try
        {
            await FinishAsync(execution, failure).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.CompletionFailed(_logger, e, run.Id);
            Ended(execution);
        }
    }

    private async Task FinishAsync(Execution execution, Exception? failure)
    {
        var run = execution.Lease.Run;
        var now = _time.GetUtcNow();
        if (failure is null)
        {
            SchedulingTelemetry.RunsSucceeded.Add(1, new KeyValuePair<string, object?>("workflow", run.WorkflowName));
            Complete(execution, RunStatus.Succeeded, now, null);
            return;
        }

        if (execution.CancelledByOverlap && failure is OperationCanceledException)
        {
            Complete(execution, RunStatus.Cancelled, now, new RunError(failure.GetType().FullName!, "Cancelled by overlap policy CancelOther: a newer occurrence came due."));
            return;
        }

        if (_stopping.IsCancellationRequested && failure is OperationCanceledException)
        {
            Log.RunReleased(_logger, run.Id, run.WorkflowName);
            await ReleaseQuietlyAsync(execution).ConfigureAwait(false);
            Ended(execution);
            return;
        }

        if (execution.TimedOut && failure is OperationCanceledException)
        {
            failure = new TimeoutException($"Run {run.Id} of {run.WorkflowName} exceeded its timeout of {execution.Workflow!.Timeout}.", failure);
        }

        SchedulingTelemetry.RunsFailed.Add(1, new KeyValuePair<string, object?>("workflow", run.WorkflowName));
        var error = new RunError(failure.GetType().FullName ?? failure.GetType().Name, failure.Message);
        int maxAttempts = execution.Workflow?.MaxAttempts ?? 1;
        if (run.Attempt < maxAttempts && !_stopping.IsCancellationRequested)
        {
            var delay = TimeSpan.FromTicks((long)Math.Min(execution.Workflow!.RetryDelay.Ticks * Math.Pow(2, run.Attempt - 1), TimeSpan.FromDays(1).Ticks));
            var retryAt = now + delay;
            Log.RunRetrying(_logger, failure, run.Id, run.WorkflowName, run.Attempt, retryAt);
            bool released = await _store.ReleaseAsync(run.Id, execution.Lease.Token, retryAt, error, CancellationToken.None).ConfigureAwait(false);
            if (released)
            {
                execution.Retry = run with { Status = RunStatus.Pending, DueTime = retryAt }; // tracked when the loop sees the end
            }
            else
            {
                Log.LeaseLost(_logger, run.Id, run.WorkflowName);
            }

            Ended(execution);
            return;
        }

        Log.RunFailed(_logger, failure, run.Id, run.WorkflowName, run.Attempt);
        Complete(execution, RunStatus.Failed, now, error);
    }

    private async Task ReleaseQuietlyAsync(Execution execution)
    {
        try
        {
            var run = execution.Lease.Run;
            await _store.ReleaseAsync(run.Id, execution.Lease.Token, run.DueTime, run.Error, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.CompletionFailed(_logger, e, execution.Lease.Run.Id);
        }
    }

    private void Complete(Execution execution, RunStatus status, DateTimeOffset completedAt, RunError? error)
    {
        execution.SetOutcome(status, completedAt.UtcTicks, error);
        _completions.Enqueue(execution);
        if (t_batchEngine != this)
        {
            WriteCompletions();
        }

        // Else a handler of a batch ended at once: the batch's thread writes what it queued when the batch has no runs
        // left to take (one store call for many runs), or the loop does if that thread stays in a later handler.
    }

    /// <summary>Writes the queued completions unless a writer is at work: this thread becomes the writer.</summary>
    private void WriteCompletions()
    {
        if (!_completions.IsEmpty && Interlocked.CompareExchange(ref _draining, 1, 0) == 0)
        {
            // No writer is active: this thread becomes it, and writes whatever other runs queue meanwhile too.
            Volatile.Write(ref _drain, DrainCompletionsAsync());
        }
    }

    /// <summary>
    /// From the loop before it sleeps, and at stop: if completions are queued and no writer is at work (a batch thread
    /// that queued them went on into a handler that blocks), a pool thread writes them, so an outcome waits at most
    /// one wake of the loop.
    /// </summary>
    private void WriteStrandedCompletions()
    {
        if (!_completions.IsEmpty && Volatile.Read(ref _draining) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static engine => engine.WriteCompletions(), this, preferLocal: false);
        }
    }

    private void Ended(Execution execution)
    {
        EndedQuietly(execution);
        _signal.Set();
    }

    /// <summary>Hands an ended run to the loop without waking it (the caller wakes it once for a batch).</summary>
    private void EndedQuietly(Execution execution)
    {
        execution.Dispose();
        _ended.Enqueue(execution);
        if (Interlocked.Decrement(ref _running) == 0 && _stopping.IsCancellationRequested)
        {
            _allEnded.TrySetResult();
        }
    }

    /// <summary>
    /// Writes queued completions in batches (group commit), then hands the runs to the loop. Runs on the thread of the
    /// handler whose completion found no writer active (no thread of its own, so nothing to wake per run); one writer
    /// at a time.
    /// </summary>
    private async Task DrainCompletionsAsync()
    {
        var batch = _drainBatch;
        var completions = _drainCompletions;
        List<Execution>? taken = null;
        int next = 0;
        while (true)
        {
            if (taken is null || next == taken.Count)
            {
                taken = _completions.TakeAll(); // the queue's own list: only this writer takes from it
                next = 0;
            }

            batch.Clear();
            for (; next < taken.Count && batch.Count < _options.BatchSize; next++)
            {
                batch.Add(taken[next]);
            }

            if (batch.Count == 0)
            {
                Interlocked.Exchange(ref _draining, 0); // a full fence: the look below must not be read before this write

                // A completion queued after the last look but before the flag dropped found a writer: look again.
                if (_completions.IsEmpty || Interlocked.CompareExchange(ref _draining, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            try
            {
                completions.Clear();
                foreach (var execution in batch)
                {
                    completions.Add(execution.Completion());
                }

                var results = await _store.CompleteAsync(completions, CancellationToken.None).ConfigureAwait(false);
                for (int i = 0; i < batch.Count; i++)
                {
                    if (!results[i])
                    {
                        Log.LeaseLost(_logger, batch[i].Lease.Run.Id, batch[i].Lease.Run.WorkflowName);
                    }
                }
            }
            catch (Exception e)
            {
                // Not stored: each lease expires and the run is retried (a store failure never escapes).
                foreach (var execution in batch)
                {
                    Log.CompletionFailed(_logger, e, execution.Lease.Run.Id);
                }
            }

            bool wake = !_preciseClock || _stopping.IsCancellationRequested;
            foreach (var execution in batch)
            {
                wake |= execution.Lease.Run.Kind == RunKind.Occurrence;
                execution.Dispose();
            }

            // The whole batch is handed to the loop at once (one lock, one atomic), after which no execution of it is
            // touched here: the loop may reuse them as soon as it sees them.
            _ended.EnqueueRange(batch);
            if (Interlocked.Add(ref _running, -batch.Count) == 0 && _stopping.IsCancellationRequested)
            {
                _allEnded.TrySetResult();
            }

            // Once for the whole batch, and only when the loop has something to do about it (an occurrence's end may
            // start a buffered one). Ended one-time runs are forgotten at the loop's next pass, which a busy loop makes
            // within microseconds and an idle one within a poll; tests under fake time always wake it (to settle).
            if (wake)
            {
                _signal.Set();
            }

            batch.Clear();
        }
    }

    /// <summary>
    /// A run added or removed, with what the loop needs to file it (not the run itself: while the loop is behind, queued
    /// commands should not keep whole run snapshots alive past a garbage collection).
    /// </summary>
    private readonly record struct Command(CommandKind Kind, Guid Id, long DueTicks, string? Workflow, RunKind RunKind);

    /// <summary>
    /// A due run waiting for a concurrency slot: its node, or none for a one-time run filed straight as due (a struct in
    /// the queue, so a backlog of thousands of such runs is no objects for the collector to keep).
    /// </summary>
    private readonly record struct Waiting(Guid Id, long DueTicks, string Workflow, WheelNode? Node);

    /// <summary>A run admitted for the next claim, with the workflow looked up at admission and its node if it has one.</summary>
    private readonly record struct Claim(Guid Id, long DueTicks, RunKind Kind, string Workflow, WorkflowDescriptor? Descriptor, WheelNode? Node);

    /// <summary>The executions started and not yet seen ended: an intrusive list (O(1) add and remove, no hashing).</summary>
    private sealed class ExecutionList
    {
        public Execution? First { get; private set; }

        public void Add(Execution execution)
        {
            execution.Next = First;
            if (First is not null)
            {
                First.Previous = execution;
            }

            First = execution;
        }

        public void Remove(Execution execution)
        {
            if (execution.Previous is null && First != execution)
            {
                return; // not in the list
            }

            if (execution.Previous is not null)
            {
                execution.Previous.Next = execution.Next;
            }
            else
            {
                First = execution.Next;
            }

            if (execution.Next is not null)
            {
                execution.Next.Previous = execution.Previous;
            }

            execution.Previous = null;
            execution.Next = null;
        }

        public List<Execution> ToList()
        {
            var all = new List<Execution>();
            for (var execution = First; execution is not null; execution = execution.Next)
            {
                all.Add(execution);
            }

            return all;
        }
    }

    private sealed class ReadyOrder : IComparer<RunLease>
    {
        public static readonly ReadyOrder Instance = new();

        public int Compare(RunLease x, RunLease y) => x.Run.DueTicks.CompareTo(y.Run.DueTicks);
    }

    private sealed class ScheduleState(WorkflowDescriptor workflow)
    {
        public WorkflowDescriptor Workflow { get; } = workflow;

        public bool Loaded { get; set; }

        /// <summary>UTC ticks: every occurrence at or before it has its run.</summary>
        public long Watermark { get; set; }

        public int Active { get; set; }

        public Queue<WheelNode> Buffer { get; } = new();
    }

    /// <summary>
    /// Runs started together, run by a few pool threads that take them in order (a shared index) rather than one work
    /// item each: handlers that end at once run back to back, and each thread writes the outcomes it queued in one
    /// store call when no run is left to take. While runs are left, one more work item for the batch is always queued,
    /// so runs never wait behind a handler that blocks its thread (another thread, or one the pool adds when all are
    /// blocked, takes them).
    /// </summary>
    private sealed class StartBatch(SchedulerEngine engine, Execution[] executions) : IThreadPoolWorkItem
    {
        private int _next;
        private int _queued;

        public void Launch()
        {
            int helpers = Math.Min(executions.Length, Environment.ProcessorCount);
            _queued = helpers;
            for (int i = 0; i < helpers; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }

        public void Execute()
        {
            Interlocked.Decrement(ref _queued);
            var outer = t_batchEngine;
            t_batchEngine = engine;
            try
            {
                int i;
                while ((i = Interlocked.Increment(ref _next) - 1) < executions.Length)
                {
                    if (i + 1 < executions.Length && Volatile.Read(ref _queued) == 0)
                    {
                        Interlocked.Increment(ref _queued);
                        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                    }

                    _ = engine.ExecuteAsync(executions[i]);
                }
            }
            finally
            {
                t_batchEngine = outer;
            }

            engine.WriteCompletions();
        }
    }

    /// <summary>
    /// One executing run: its lease and the token its handler sees (the stopping token itself, unless the workflow
    /// has a timeout or can be cancelled by <see cref="OverlapPolicy.CancelOther"/>, which need a token of its own).
    /// </summary>
    private sealed class Execution : IDisposable, IThreadPoolWorkItem
    {
        private CancellationTokenSource? _cancel;
        private CancellationTokenSource? _timeout;
        private volatile bool _cancelledByOverlap;

        public Execution(SchedulerEngine engine, RunLease lease, WorkflowDescriptor? workflow, bool cancellable, CancellationToken stopping)
        {
            Engine = engine;
            Reuse(lease, workflow, cancellable, stopping);
        }

        public SchedulerEngine Engine { get; }

        public RunLease Lease { get; private set; }

        /// <summary>
        /// Makes this execution one of another run. Only for an execution the loop has seen end: by then no thread
        /// refers to it any more (see <see cref="SchedulerEngine.Drain"/>).
        /// </summary>
        public void Reuse(RunLease lease, WorkflowDescriptor? workflow, bool cancellable, CancellationToken stopping)
        {
            Lease = lease;
            Workflow = workflow;
            _cancel = cancellable ? CancellationTokenSource.CreateLinkedTokenSource(stopping) : null;
            _timeout = null;
            _cancelledByOverlap = false;
            Token = _cancel?.Token ?? stopping;
            _status = default;
            _completedTicks = 0;
            _error = null;
            Retry = null;
            Previous = null;
            Next = null;
            StartAt = 0;
        }

        /// <summary>
        /// The <see cref="Stopwatch"/> timestamp before which the handler must not start (0: at once): set for a run handed
        /// to the thread pool ahead of its instant.
        /// </summary>
        public long StartAt { get; set; }

        /// <summary>Links of the loop's <see cref="ExecutionList"/>.</summary>
        public Execution? Previous { get; set; }

        public Execution? Next { get; set; }

        public WorkflowDescriptor? Workflow { get; private set; }

        public CancellationToken Token { get; private set; }

        public bool CancelledByOverlap => _cancelledByOverlap;

        public bool TimedOut => _timeout?.IsCancellationRequested == true;

        // The outcome, set when the handler has ended (kept unpacked: an execution exists per run).
        private RunStatus _status;
        private long _completedTicks;
        private RunError? _error;

        public void SetOutcome(RunStatus status, long completedTicks, RunError? error)
        {
            _status = status;
            _completedTicks = completedTicks;
            _error = error;
        }

        /// <summary>The outcome to store.</summary>
        public RunCompletion Completion() => new(Lease.Run.Id, Lease.Token, _status, new DateTimeOffset(_completedTicks, TimeSpan.Zero), _error);

        /// <summary>The run as released for a retry, for the loop to track once it sees this attempt end.</summary>
        public ScheduledRun? Retry { get; set; }

        /// <summary>Runs the handler: the execution is its own thread-pool work item.</summary>
        void IThreadPoolWorkItem.Execute() => _ = Engine.ExecuteAsync(this);

        public void CancelAfter(TimeSpan timeout, TimeProvider time)
        {
            _timeout = new CancellationTokenSource(timeout, time);
            _timeout.Token.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _cancel);
        }

        public void CancelByOverlap()
        {
            _cancelledByOverlap = true;
            try
            {
                _cancel?.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // the run ended meanwhile
            }
        }

        public void Dispose()
        {
            _timeout?.Dispose();
            _cancel?.Dispose();
        }
    }
}
