using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Claiming;
using Durable.Scheduling.Engine.Completion;
using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Engine.Feed;
using Durable.Scheduling.Engine.Maintenance;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Durable.Scheduling.Engine;

/// <summary>
/// The hosted service that runs workflows: at start it discovers the workflows (throwing on misconfiguration), wires
/// the engine's rooms and starts the <see cref="SchedulerLoop"/>; at stop it stops the loop, lets running handlers end
/// within the host's shutdown timeout and releases what is still running after it. Also what <see cref="IScheduler"/>
/// talks to (<see cref="Changes"/>) and what <see cref="ISchedulerActivity"/> reads.
/// </summary>
internal sealed class SchedulerHost : IHostedService, ISchedulerActivity, IDisposable
{
    private const string StartUpCheck = "durable.scheduling:start-up-check";
    private readonly ISchedulingStore _store;
    private readonly WorkflowRegistry _registry;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IServiceScopeFactory _scopes;
    private readonly IServiceProvider _services;
    private readonly CancellationTokenSource _stopping = new();
    private readonly WakeSignal _signal;
    private readonly LoopWait _wait;
    private readonly ConcurrencySlots _slots;
    private readonly RunChangeInbox _inbox;
    private readonly ExecutionTracker _executions;
    private readonly CompletionWriter _writer;
    private RunAttempt? _attempt;
    private Claimer? _claimer;
    private SchedulerLoop? _loop;
    private OrphanWatch? _orphans;
    private Task _loopTask = Task.CompletedTask;
    private IDisposable? _notifications;
    private int _disposed;

    public SchedulerHost(ISchedulingStore store, WorkflowRegistry registry, IOptions<SchedulingOptions> options, IServiceScopeFactory scopes, IServiceProvider services, ILogger<SchedulerHost>? logger = null)
    {
        _store = store;
        _registry = registry;
        _options = options.Value;
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        _logger = logger ?? NullLogger<SchedulerHost>.Instance;
        _scopes = scopes;
        _services = services;
        _signal = new WakeSignal(_time);
        _wait = LoopWait.For(_time, _signal, _options.PollInterval);
        _slots = new ConcurrencySlots(_options.MaxConcurrency, batchWakes: _wait.IsPrecise);
        _inbox = new RunChangeInbox(_signal, _slots, _wait.IsPrecise, SchedulerLoop.WheelHorizonTicks(_options), _time);
        _executions = new ExecutionTracker(_signal, _stopping.Token);
        _writer = new CompletionWriter(_store, _executions, _signal, _options.BatchSize, wakeOnlyForOccurrences: _wait.IsPrecise, _logger, _stopping.Token);
    }

    /// <summary>Where the scheduler API reports the runs it changed (nowhere when this process executes no runs).</summary>
    public IRunChanges Changes => _options.ExecuteRuns ? _inbox : NoRunChanges.Instance;

    /// <inheritdoc />
    public int RunningHandlers => _executions.Running;

    /// <summary>How the loop is faring; null until the scheduler has started executing runs.</summary>
    public LoopHealth? Health => _loop?.Health;

    /// <summary>True once stopping has begun.</summary>
    public bool Stopping => _stopping.IsCancellationRequested;

    /// <summary>A read of the store as cheap as any (the start-up check's watermark), to see that it answers.</summary>
    public async ValueTask ProbeStoreAsync(CancellationToken cancellationToken) => await _store.GetWatermarkAsync(StartUpCheck, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public bool IsIdle =>
        _loop is null ||
        ((_signal.IsWaiting || _loop.Stopped) && _inbox.IsSettled && _executions.NoneEnded && _writer.IsIdle && _orphans!.Idle &&
         _slots.Active == _executions.Running + _claimer!.ReadyCount);

    /// <summary>
    /// Starts the scheduler: discovers workflows (throwing on misconfiguration), checks that the store works (a store
    /// that cannot work as configured, such as a damaged, foreign or read-only file, fails start-up with its
    /// <see cref="StoreUnusableException"/>; a store merely unreachable or locked lets the scheduler start and retry with
    /// back-off), and starts its loop.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _registry.EnsureDiscovered();
        bool storeAnswered = false;
        try
        {
            // The first call opens, checks and migrates a durable store.
            await _store.GetWatermarkAsync(StartUpCheck, cancellationToken).ConfigureAwait(false);
            storeAnswered = true;
        }
        catch (Exception e) when (e is not StoreUnusableException && e is not OperationCanceledException)
        {
            // Unreachable or locked: it may come back; the loop retries with back-off. A store that cannot work as
            // configured (StoreUnusableException) fails start-up instead.
            Log.StoreFailingAtStart(_logger, e);
        }

        if (!_options.ExecuteRuns)
        {
            Log.ClientOnly(_logger, _registry.All.Count);
            return;
        }

        var now = _time.GetUtcNow();
        var workflows = _registry.All;
        CodeWarmUp.Start(workflows.Select(w => w.Method));
        var tracked = new TrackedRuns(now.UtcTicks);
        _attempt = new RunAttempt(_store, _time, _slots, _signal, _executions, _writer, _scopes, _services, _options, _inbox.Holds, _logger, _stopping.Token);
        _executions.Connect(_attempt, _writer);
        var code = new CodeSchedules(_store, workflows, _logger);
        if (storeAnswered)
        {
            try
            {
                // Stored before start-up returns, so that the app's next line can describe, pause or trigger them. Under
                // the store's planning lock, as an update: no pass of another instance plans between a changed spec's
                // write and the withdrawal of the occurrences the old one made ahead.
                if (code.Ids.Count == 0)
                {
                    await code.SyncOnceAsync(now, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    var planning = await _store.EnterPlanningAsync(cancellationToken).ConfigureAwait(false);
                    await using (planning.ConfigureAwait(false))
                    {
                        await code.SyncOnceAsync(now, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.StoreFailingAtStart(_logger, e); // the loop's first pass retries it, with back-off
            }
        }

        var book = new ScheduleBook(_store, _registry.Find, code.Ids, _logger);
        var admission = new AdmissionControl(_slots, book, _registry.Find, _executions.CancelRunning, _logger);
        _claimer = new Claimer(_store, _options, admission, tracked, _executions, _registry.Find, _wait, _inbox.Holds, _time, _logger)
        {
            Owner = _options.InstanceId ?? LocalOwners.NewId(RunIds.Next(now)),
        };
        var planner = new OccurrencePlanner(_store, _options, book, code, tracked, now.UtcTicks, _logger);
        _loop = new SchedulerLoop(new SchedulerParts(
            _options, _time, _signal, _wait, _inbox, _slots, tracked,
            new ClockWatch(_time, now.UtcTicks),
            admission, _claimer, _executions, _writer,
            new DueFeeder(_store, tracked, _executions.IsExecuting, _options.BatchSize),
            planner,
            book,
            new LeaseRenewer(_store, _executions, _options.LeaseDuration, _logger),
            new Purger(_store, _time, _options.RunRetention, _options.BatchSize),
            new OwnedRunRecovery(_store, _options.InstanceId, _logger),
            _orphans = new OrphanWatch(_store, workflows.Select(w => w.Name).ToHashSet(StringComparer.Ordinal), _logger), // a set: a store may test each run against it
            _logger));
        Log.Started(_logger, workflows.Count, code.Ids.Count);
        if (workflows.Count == 0)
        {
            Log.NoWorkflows(_logger, _registry.Scanned);
        }

        var loop = _loop;
        if (_store is IRunChangeNotifications notifications)
        {
            _notifications = notifications.Subscribe(loop.ChangedElsewhere);
        }

        _loopTask = Task.Run(() => loop.RunAsync(_stopping.Token), CancellationToken.None);
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

        Log.Stopping(_logger, _executions.Running);
        _notifications?.Dispose();
        await _stopping.CancelAsync().ConfigureAwait(false);
        _signal.Set();
        try
        {
            await _loopTask.WaitAsync(cancellationToken).ConfigureAwait(false);
            _writer.WriteStranded();
            if (_executions.Running > 0)
            {
                await _executions.AllEnded.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The shutdown timeout passed: release what is still running so that it is retried later; a handler that
            // finishes after this is fenced out by its lost lease.
            if (_loopTask.IsCompleted && _attempt is not null)
            {
                foreach (var execution in _executions.Executions.ToList())
                {
                    if (!execution.Abandoned)
                    {
                        await _attempt.ReleaseQuietlyAsync(execution).ConfigureAwait(false); // an abandoned run is recorded already
                    }
                }
            }
        }
        finally
        {
            try
            {
                await _writer.Latest.WaitAsync(cancellationToken).ConfigureAwait(false);
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

        _notifications?.Dispose();
        _stopping.Cancel();
        _signal.Dispose();
        _stopping.Dispose();
    }

    /// <summary>The changes of a process that executes no runs: nothing to tell.</summary>
    private sealed class NoRunChanges : IRunChanges
    {
        public static readonly NoRunChanges Instance = new();

        public void Added(ScheduledRun run)
        {
        }

        public void Created(ScheduledRun run, DateTimeOffset now)
        {
        }

        public void Removed(Guid id)
        {
        }

        public void ScheduleChanged(StoredSchedule schedule, CompiledDefinition? compiled = null)
        {
        }

        public void ScheduleCreated(StoredSchedule schedule, CompiledDefinition compiled, DateTimeOffset now)
        {
        }
    }
}
