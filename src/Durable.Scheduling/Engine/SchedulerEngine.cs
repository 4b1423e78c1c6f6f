using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Durable.Scheduling;

/// <summary>
/// The hosted service that runs workflows. One loop owns the timer wheel: it materializes recurring occurrences
/// (idempotently, ahead of time, up to <see cref="SchedulingOptions.LookAhead"/>), loads due runs from the store in
/// batches, waits precisely for the next due instant, claims due runs under a lease and starts them on the thread
/// pool within <see cref="SchedulingOptions.MaxConcurrency"/>. Completions are written in batches by a second loop.
/// </summary>
internal sealed class SchedulerEngine : IHostedService, IDisposable
{
    private static readonly TimeSpan ClockJumpTolerance = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan FeedGuard = TimeSpan.FromMilliseconds(20);
    private const int MaxOccurrencesPerPass = 10_000;
    private const int FirstDispatchChunk = 64; // runs in the first claim at a due instant, so the first start early
    private const long MaxOccurrencesCounted = 10_000_000;

    private readonly ISchedulingStore _store;
    private readonly WorkflowRegistry _registry;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IServiceScopeFactory _scopes;
    private readonly IServiceProvider _services;
    private readonly bool _preciseClock;
    private readonly ConcurrentQueue<Command> _inbox = new();
    private readonly ConcurrentQueue<(RunCompletion Completion, Execution Execution)> _completions = new();
    private readonly WakeSignal _signal;
    private readonly WakeSignal _completionSignal;
    private readonly Dictionary<Guid, WheelNode> _known = [];
    private readonly Dictionary<string, ScheduleState> _schedules = new(StringComparer.Ordinal);
    private readonly Dictionary<Guid, Execution> _executions = []; // loop-owned
    private readonly TaskCompletionSource _allEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Queue<WheelNode> _waiting = new();
    private readonly List<WheelNode> _due = [];
    private readonly CancellationTokenSource _stopping = new();
    private TimerWheel? _wheel;
    private Task _loop = Task.CompletedTask;
    private Task _completer = Task.CompletedTask;
    private string? _feedCursor;
    private long _nextFeedTicks;
    private long _nextRenewTicks;
    private long _nextPurgeTicks;
    private long _lastNowTicks;
    private long _startedTicks;
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
        _logger = logger ?? NullLogger<SchedulerEngine>.Instance;
        _scopes = scopes;
        _services = services;
        _signal = new WakeSignal(_time);
        _completionSignal = new WakeSignal(_time);
    }

    private enum CommandKind
    {
        Added,
        Removed,
        Ended,
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
        _completer = Task.Run(CompleterAsync, CancellationToken.None);
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
                foreach (var execution in _executions.Values.ToList())
                {
                    await ReleaseQuietlyAsync(execution).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _completionSignal.Set();
            try
            {
                await _completer.WaitAsync(cancellationToken).ConfigureAwait(false);
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
        _completionSignal.Dispose();
        _stopping.Dispose();
    }

    /// <summary>Tells the loop about a run created, rescheduled or retried (it loads it if it falls due soon).</summary>
    internal void NotifyAdded(ScheduledRun run) => Post(new Command(CommandKind.Added, run.Id, run));

    /// <summary>Tells the loop about a new run only if it falls due before the next feed would load it anyway.</summary>
    internal void NotifyCreated(ScheduledRun run)
    {
        if (run.DueTime.UtcTicks <= _time.GetUtcNow().UtcTicks + WheelHorizonTicks)
        {
            NotifyAdded(run);
        }
    }

    /// <summary>Tells the loop a run was deleted (it drops it from the wheel).</summary>
    internal void NotifyRemoved(Guid id) => Post(new Command(CommandKind.Removed, id, null));

    /// <summary>
    /// For tests under fake time: true when the loop is waiting for its next timer with nothing queued, and every
    /// executing handler is one of the <paramref name="parkedHandlers"/> the test knows to be waiting on its clock.
    /// </summary>
    internal bool IsSettled(int parkedHandlers) =>
        (_signal.IsWaiting || _loopStopped) && _inbox.IsEmpty && _completions.IsEmpty && !_completionSignal.IsSet &&
        Volatile.Read(ref _running) == parkedHandlers && Volatile.Read(ref _activeCount) == parkedHandlers;

    private void Post(Command command)
    {
        _inbox.Enqueue(command);
        _signal.Set();
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

                // Due runs first: feeding (store reads, creating occurrences) never delays a run that is due now.
                _wheel!.Advance(now.UtcTicks, _due);
                if (_due.Count > 0 || (_waiting.Count > 0 && Volatile.Read(ref _activeCount) < _options.MaxConcurrency))
                {
                    await DispatchAsync(now, stop).ConfigureAwait(false);
                    continue;
                }

                // A feed (store reads, creating occurrences) takes a few milliseconds: it waits for a run due within
                // FeedGuard to go first, unless it is already a whole poll late.
                if (now.UtcTicks >= _nextFeedTicks &&
                    (_wheel.NextDueTicks() - now.UtcTicks > FeedGuard.Ticks || now.UtcTicks >= _nextFeedTicks + _options.PollInterval.Ticks))
                {
                    await FeedAsync(now, stop).ConfigureAwait(false);
                    continue;
                }

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

        _loopStopped = true;
    }

    private async Task WaitAsync(CancellationToken stop)
    {
        if (!_inbox.IsEmpty)
        {
            return;
        }

        var now = _time.GetUtcNow();
        long nextDue = _wheel!.NextDueTicks();
        long next = _nextFeedTicks > now.UtcTicks ? Math.Min(nextDue, _nextFeedTicks) : nextDue; // a postponed feed waits for that run
        var delay = TimeSpan.FromTicks(Math.Clamp(next - now.UtcTicks, 0, _options.PollInterval.Ticks));
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        if (_preciseClock && delay <= PreciseDelay.Window)
        {
            PreciseDelay.Until(Stopwatch.GetTimestamp() + (long)(delay.Ticks * (Stopwatch.Frequency / (double)TimeSpan.TicksPerSecond)));
            return;
        }

        var coarse = _preciseClock ? delay - PreciseDelay.Window : delay;
        await _signal.WaitAsync(coarse, stop).ConfigureAwait(false);
        _signal.Reset();
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
            _wheel!.Rebuild(now.UtcTicks);
            _nextFeedTicks = now.UtcTicks;
        }
    }

    private void Drain(DateTimeOffset now)
    {
        long horizon = now.UtcTicks + WheelHorizonTicks;
        while (_inbox.TryDequeue(out var command))
        {
            switch (command.Kind)
            {
                case CommandKind.Added:
                    if (_known.Remove(command.Id, out var old))
                    {
                        _wheel!.Remove(old);
                    }

                    if (command.Run!.Status == RunStatus.Pending && command.Run.DueTime.UtcTicks <= horizon)
                    {
                        Track(command.Run);
                    }

                    break;
                case CommandKind.Removed:
                    if (_known.Remove(command.Id, out var removed))
                    {
                        _wheel!.Remove(removed);
                    }

                    break;
                case CommandKind.Ended:
                    _known.Remove(command.Id);
                    _executions.Remove(command.Id);
                    if (command.Run!.Kind == RunKind.Occurrence && _schedules.TryGetValue(command.Run.WorkflowName, out var state))
                    {
                        state.Active--;
                        if (state.Active == 0 && state.Buffer.Count > 0)
                        {
                            _due.Add(state.Buffer.Dequeue());
                        }
                    }

                    break;
            }
        }
    }

    private void Track(ScheduledRun run) => Track(run.Id, run.DueTime.UtcTicks, run.WorkflowName, run.Kind);

    private void Track(Guid id, long dueTicks, string workflow, RunKind kind)
    {
        var node = new WheelNode(id, dueTicks, workflow, kind);
        _known[id] = node;
        _wheel!.Add(node);
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
        bool cycleStart = _feedCursor is null;
        var page = await _store.GetDueAsync(new DateTimeOffset(now.UtcTicks + WheelHorizonTicks, TimeSpan.Zero), _options.BatchSize, _feedCursor, stop).ConfigureAwait(false);
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
            foreach (var execution in _executions.Values)
            {
                if (!await _store.RenewAsync(execution.Lease.Run.Id, execution.Lease.Token, now + _options.LeaseDuration, stop).ConfigureAwait(false))
                {
                    Log.LeaseLost(_logger, execution.Lease.Run.Id, execution.Lease.Run.WorkflowName);
                }
            }
        }

        if (_options.RunRetention is { } retention && now.UtcTicks >= _nextPurgeTicks)
        {
            // A batch a minute, or a batch every feed while a whole batch was due (so purging keeps up with runs ending).
            int purged = await _store.PurgeAsync(now - retention, _options.BatchSize, stop).ConfigureAwait(false);
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
        var toClaim = new List<WheelNode>(_due.Count);
        var toSkip = new List<WheelNode>();
        while (_waiting.Count > 0 && Volatile.Read(ref _activeCount) < _options.MaxConcurrency)
        {
            Admit(_waiting.Dequeue(), toClaim, toSkip);
        }

        _due.Sort(static (a, b) => a.DueTicks.CompareTo(b.DueTicks)); // catch-up and buffers start in order
        foreach (var node in _due)
        {
            if (Volatile.Read(ref _activeCount) >= _options.MaxConcurrency)
            {
                _waiting.Enqueue(node);
            }
            else
            {
                Admit(node, toClaim, toSkip);
            }
        }

        _due.Clear();
        Volatile.Write(ref _slotWanted, _waiting.Count > 0);
        if (stop.IsCancellationRequested)
        {
            toClaim.ForEach(Unreserve); // no run starts once stopping has begun; they stay pending in the store
            return;
        }

        if (toSkip.Count > 0)
        {
            await SkipAsync(toSkip, now, stop).ConfigureAwait(false);
        }

        // A small first claim so the first runs start at once, then whole batches (fewer store round trips).
        for (int offset = 0, chunk = Math.Min(_options.BatchSize, FirstDispatchChunk); offset < toClaim.Count; offset += chunk, chunk = _options.BatchSize)
        {
            var batch = toClaim.GetRange(offset, Math.Min(chunk, toClaim.Count - offset));
            var leases = await _store.ClaimAsync(batch.ConvertAll(n => n.Id), now, _options.LeaseDuration, _owner, stop).ConfigureAwait(false);
            var won = new HashSet<Guid>(leases.Count);
            foreach (var lease in leases)
            {
                if (stop.IsCancellationRequested)
                {
                    // Stopping began during the claim: hand the run back instead of starting it.
                    await _store.ReleaseAsync(lease.Run.Id, lease.Token, lease.Run.DueTime, lease.Run.Error, CancellationToken.None).ConfigureAwait(false);
                    continue;
                }

                won.Add(lease.Run.Id);
                Start(lease);
            }

            foreach (var node in batch)
            {
                if (!won.Contains(node.Id))
                {
                    // Claimed elsewhere, deleted, rescheduled or not due after all: forget it; the feed reloads it if needed.
                    _known.Remove(node.Id);
                    Unreserve(node);
                }
            }
        }
    }

    /// <summary>Gives back the concurrency slot (and schedule slot) that <see cref="Admit"/> reserved for a node.</summary>
    private void Unreserve(WheelNode node)
    {
        Interlocked.Decrement(ref _activeCount);
        if (node.Kind == RunKind.Occurrence && _schedules.TryGetValue(node.Workflow, out var state))
        {
            state.Active--;
        }
    }

    /// <summary>Applies the overlap policy to a due node: reserve it to run, buffer it, or mark it to skip.</summary>
    private void Admit(WheelNode node, List<WheelNode> toClaim, List<WheelNode> toSkip)
    {
        if (_registry.Find(node.Workflow) is null)
        {
            // Not defined in this process (another version of the application, during a rolling deployment, may
            // define it): leave the run pending for an instance that can run it. The node stays known, outside the
            // wheel, so the feed does not load it again and again.
            if (_unknownWorkflows.Add(node.Workflow))
            {
                Log.UnknownWorkflow(_logger, node.Workflow);
            }

            return;
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
                        return;
                    case OverlapPolicy.BufferOne:
                        if (state.Buffer.Count == 0)
                        {
                            state.Buffer.Enqueue(node);
                        }
                        else
                        {
                            toSkip.Add(node);
                        }

                        return;
                    case OverlapPolicy.BufferAll:
                        state.Buffer.Enqueue(node);
                        return;
                    case OverlapPolicy.CancelOther:
                        foreach (var execution in _executions.Values)
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
                        return;
                }
            }

            state.Active++;
        }

        Interlocked.Increment(ref _activeCount);
        toClaim.Add(node);
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

    private void Start(RunLease lease)
    {
        var workflow = _registry.Find(lease.Run.WorkflowName);
        bool cancellable = workflow?.Timeout is not null || workflow?.Schedule?.Overlap == OverlapPolicy.CancelOther;
        var execution = new Execution(this, lease, workflow, cancellable, _stopping.Token);
        _executions[lease.Run.Id] = execution;
        Interlocked.Increment(ref _running);

        // The global (FIFO) queue, so runs handed out in due order also start in that order.
        ThreadPool.UnsafeQueueUserWorkItem(static e => _ = e.Engine.ExecuteAsync(e), execution, preferLocal: false);
    }

    private async Task ExecuteAsync(Execution execution)
    {
        var run = execution.Lease.Run;
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

            var context = new ScheduledRunContext(run, startedAt, run.Attempt);
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
        if (Interlocked.Decrement(ref _activeCount) == _options.MaxConcurrency - 1 && Volatile.Read(ref _slotWanted))
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
            Complete(execution, new RunCompletion(run.Id, execution.Lease.Token, RunStatus.Succeeded, now));
            return;
        }

        if (execution.CancelledByOverlap && failure is OperationCanceledException)
        {
            Complete(execution, new RunCompletion(run.Id, execution.Lease.Token, RunStatus.Cancelled, now, new RunError(failure.GetType().FullName!, "Cancelled by overlap policy CancelOther: a newer occurrence came due.")));
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
            Ended(execution);
            if (released)
            {
                NotifyAdded(run with { Status = RunStatus.Pending, DueTime = retryAt });
            }
            else
            {
                Log.LeaseLost(_logger, run.Id, run.WorkflowName);
            }

            return;
        }

        Log.RunFailed(_logger, failure, run.Id, run.WorkflowName, run.Attempt);
        Complete(execution, new RunCompletion(run.Id, execution.Lease.Token, RunStatus.Failed, now, error));
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

    private void Complete(Execution execution, RunCompletion completion)
    {
        _completions.Enqueue((completion, execution));
        _completionSignal.Set();
    }

    private void Ended(Execution execution)
    {
        execution.Dispose();
        Post(new Command(CommandKind.Ended, execution.Lease.Run.Id, execution.Lease.Run));
        if (Interlocked.Decrement(ref _running) == 0 && _stopping.IsCancellationRequested)
        {
            _allEnded.TrySetResult();
        }
    }

    /// <summary>Writes completions in batches (group commit), then tells the loop the runs ended.</summary>
    private async Task CompleterAsync()
    {
        var batch = new List<(RunCompletion Completion, Execution Execution)>(_options.BatchSize);
        while (true)
        {
            while (batch.Count < _options.BatchSize && _completions.TryDequeue(out var item))
            {
                batch.Add(item);
            }

            if (batch.Count == 0)
            {
                if (_stopping.IsCancellationRequested && Volatile.Read(ref _running) == 0 && _loop.IsCompleted)
                {
                    return;
                }

                await _completionSignal.WaitAsync(_options.PollInterval, CancellationToken.None).ConfigureAwait(false);
                continue;
            }

            try
            {
                var results = await _store.CompleteAsync(batch.ConvertAll(b => b.Completion), CancellationToken.None).ConfigureAwait(false);
                for (int i = 0; i < batch.Count; i++)
                {
                    if (!results[i])
                    {
                        Log.LeaseLost(_logger, batch[i].Completion.RunId, batch[i].Execution.Lease.Run.WorkflowName);
                    }
                }
            }
            catch (Exception e)
            {
                foreach (var (completion, _) in batch)
                {
                    Log.CompletionFailed(_logger, e, completion.RunId);
                }
            }

            foreach (var (_, execution) in batch)
            {
                Ended(execution);
            }

            batch.Clear();
        }
    }

    private readonly record struct Command(CommandKind Kind, Guid Id, ScheduledRun? Run);

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
    /// One executing run: its lease and the token its handler sees (the stopping token itself, unless the workflow
    /// has a timeout or can be cancelled by <see cref="OverlapPolicy.CancelOther"/>, which need a token of its own).
    /// </summary>
    private sealed class Execution : IDisposable
    {
        private readonly CancellationTokenSource? _cancel;
        private CancellationTokenSource? _timeout;
        private volatile bool _cancelledByOverlap;

        public Execution(SchedulerEngine engine, RunLease lease, WorkflowDescriptor? workflow, bool cancellable, CancellationToken stopping)
        {
            Engine = engine;
            Lease = lease;
            Workflow = workflow;
            _cancel = cancellable ? CancellationTokenSource.CreateLinkedTokenSource(stopping) : null;
            Token = _cancel?.Token ?? stopping;
        }

        public SchedulerEngine Engine { get; }

        public RunLease Lease { get; }

        public WorkflowDescriptor? Workflow { get; }

        public CancellationToken Token { get; }

        public bool CancelledByOverlap => _cancelledByOverlap;

        public bool TimedOut => _timeout?.IsCancellationRequested == true;

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
