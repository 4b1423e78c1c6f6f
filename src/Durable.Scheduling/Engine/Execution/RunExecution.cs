using System.Diagnostics;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Engine.Execution;

/// <summary>
/// One executing run: its lease and the token its handler sees (the stopping token itself, unless the workflow has a
/// timeout or can be cancelled by <see cref="OverlapPolicy.CancelOther"/>, which need a token of its own). It is its
/// own thread-pool work item, and is reused for another run once the loop has seen it end.
/// </summary>
internal sealed class RunExecution : IDisposable, IThreadPoolWorkItem
{
    private readonly RunAttempt _attempt;
    private CancellationTokenSource? _cancel;
    private CancellationTokenSource? _timeout;
    private volatile bool _cancelledByOverlap;
    private readonly Lock _gate = new(); // orders a handler's return against its abandonment, when a run has a timeout
    private int _handler; // the run's number (counting reuses) times four, plus HandlerRunning, HandlerReturned or RunAbandoned
    private ITimer? _grace;
    private Task<bool>? _abandonment;

    // The outcome, set when the handler has ended (kept unpacked: an execution exists per run).
    private RunStatus _status;
    private long _completedTicks;
    private RunError? _error;

    private const int HandlerRunning = 0;
    private const int HandlerReturned = 1;
    private const int RunAbandoned = 2;
    private const int StateBits = 3;

    public RunExecution(RunAttempt attempt, RunLease lease, WorkflowDescriptor? workflow, bool cancellable, CancellationToken stopping)
    {
        _attempt = attempt;
        Reuse(lease, workflow, cancellable, stopping);
    }

    public RunLease Lease { get; private set; }

    /// <summary>
    /// The <see cref="Stopwatch"/> timestamp before which the handler must not start (0: at once): set for a run handed
    /// to the thread pool ahead of its instant.
    /// </summary>
    public long StartAt { get; set; }

    /// <summary>
    /// The number of the last schedule change made in this process before the run was claimed (see
    /// <see cref="Engine.Schedules.ScheduleHolds"/>): an occurrence whose schedule was paused or deleted here since does not start.
    /// </summary>
    public long ClaimedAfterChange { get; set; }

    /// <summary>Links of the loop's <see cref="ExecutionList"/>.</summary>
    public RunExecution? Previous { get; set; }

    public RunExecution? Next { get; set; }

    public WorkflowDescriptor? Workflow { get; private set; }

    public CancellationToken Token { get; private set; }

    public bool CancelledByOverlap => _cancelledByOverlap;

    /// <summary>
    /// True once the handler has returned, or its run was abandoned (any thread): its lease is being given up (completed,
    /// released for a retry or for stop, or the run recorded as abandoned), so a renewal that fails from then on is no
    /// lost lease.
    /// </summary>
    public bool HandlerEnded => (Volatile.Read(ref _handler) & StateBits) != HandlerRunning;

    /// <summary>
    /// True once the run was abandoned: its handler ran on past its timeout and <see cref="SchedulingOptions.TimeoutGrace"/>
    /// (the handler may still be running).
    /// </summary>
    public bool Abandoned => (Volatile.Read(ref _handler) & StateBits) == RunAbandoned;

    /// <summary>The recording of the abandoned run (true when nothing more is to be stored about it); null unless <see cref="Abandoned"/>.</summary>
    public Task<bool>? Abandonment => _abandonment;

    public bool TimedOut => _timeout?.IsCancellationRequested == true;

    /// <summary>The run as released for a retry, for the loop to track once it sees this attempt end.</summary>
    public ScheduledRun? Retry { get; set; }

    /// <summary>
    /// Makes this execution one of another run. Only for an execution the loop has seen end: by then no thread refers
    /// to it any more.
    /// </summary>
    public void Reuse(RunLease lease, WorkflowDescriptor? workflow, bool cancellable, CancellationToken stopping)
    {
        Lease = lease;
        Workflow = workflow;
        _cancel = cancellable ? CancellationTokenSource.CreateLinkedTokenSource(stopping) : null;
        _timeout = null;
        _grace = null;
        _abandonment = null;
        _cancelledByOverlap = false;
        Volatile.Write(ref _handler, (_handler & ~StateBits) + StateBits + 1); // the next run's number, running: a timer left from the last run matches nothing
        Token = _cancel?.Token ?? stopping;
        _status = default;
        _completedTicks = 0;
        _error = null;
        Retry = null;
        Previous = null;
        Next = null;
        StartAt = 0;
        ClaimedAfterChange = 0;
    }

    /// <summary>
    /// Marks the handler as returned (see <see cref="HandlerEnded"/>); before anything about the outcome is stored. False
    /// when the run was abandoned first (see <see cref="Abandonment"/>).
    /// </summary>
    public bool EndHandler()
    {
        if (_grace is null)
        {
            Volatile.Write(ref _handler, _handler | HandlerReturned); // no timeout: nothing can abandon the run
            return true;
        }

        _grace.Dispose();
        lock (_gate)
        {
            if ((_handler & StateBits) != HandlerRunning)
            {
                return false;
            }

            _handler |= HandlerReturned;
            return true;
        }
    }

    public void SetOutcome(RunStatus status, long completedTicks, RunError? error)
    {
        _status = status;
        _completedTicks = completedTicks;
        _error = error;
    }

    /// <summary>The outcome to store.</summary>
    public RunCompletion Completion() => new(Lease.Run.Id, Lease.Token, _status, new DateTimeOffset(_completedTicks, TimeSpan.Zero), _error) { ScheduleId = Lease.Run.ScheduleId };

    /// <summary>Runs the handler.</summary>
    void IThreadPoolWorkItem.Execute() => _ = _attempt.ExecuteAsync(this);

    /// <summary>
    /// Cancels the handler's token after <paramref name="timeout"/>, and abandons the run (<see cref="RunAttempt.AbandonAsync"/>)
    /// if its handler has still not returned <paramref name="grace"/> after that.
    /// </summary>
    public void CancelAfter(TimeSpan timeout, TimeSpan grace, TimeProvider time)
    {
        _timeout = new CancellationTokenSource(timeout, time);
        _timeout.Token.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), _cancel);
        int run = _handler & ~StateBits; // the timer names its run: one firing after this execution was reused acts on nothing
        _grace = time.CreateTimer(static s => { var (execution, run) = ((RunExecution, int))s!; execution.GraceEnded(run); }, (this, run), timeout + grace, Timeout.InfiniteTimeSpan);
    }

    private void GraceEnded(int run)
    {
        TaskCompletionSource<bool> abandonment;
        lock (_gate)
        {
            if (_handler != (run | HandlerRunning))
            {
                return; // the handler returned, or this execution serves another run now
            }

            abandonment = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            _abandonment = abandonment.Task;
            _handler = run | RunAbandoned;
        }

        _ = RecordAbandonedAsync(abandonment);
    }

    private async Task RecordAbandonedAsync(TaskCompletionSource<bool> abandonment) =>
        abandonment.SetResult(await _attempt.AbandonAsync(this).ConfigureAwait(false));

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
        _grace?.Dispose();
        _timeout?.Dispose();
        _cancel?.Dispose();
    }
}
