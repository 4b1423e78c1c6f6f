using Durable.Scheduling.Engine.Concurrency;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Engine.Execution;

/// <summary>
/// Starts claimed runs on the thread pool and keeps the books of what runs: the executions started and not yet seen
/// ended (loop-owned), the count of running handlers, and the queue of ended runs the loop forgets at its next pass.
/// Executions the loop has seen end are reused.
/// </summary>
internal sealed class ExecutionTracker
{
    private const int MaxSpareExecutions = 1024;
    private readonly ExecutionList _executions = new(); // started and not yet seen ended by the loop; loop-owned
    private readonly Stack<RunExecution> _spare = new(); // executions seen ended, reused by Start (loop-owned)
    private readonly List<RunExecution> _starting = []; // started by this pass, handed to the thread pool by Launch
    private readonly BatchQueue<RunExecution> _ended = new(); // runs whose outcome is stored, for the loop to forget
    private readonly TaskCompletionSource _allEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly WakeSignal _signal;
    private readonly CancellationToken _stopping;
    private RunAttempt _attempt = null!;
    private IOutcomeWriter _writer = null!;
    private int _running;

    public ExecutionTracker(WakeSignal signal, CancellationToken stopping)
    {
        _signal = signal;
        _stopping = stopping;
    }

    /// <summary>Handlers started and not yet ended (outcome stored or released).</summary>
    public int Running => Volatile.Read(ref _running);

    /// <summary>Completes when stopping has begun and no handler runs any more.</summary>
    public Task AllEnded => _allEnded.Task;

    /// <summary>True when no ended run waits for the loop.</summary>
    public bool NoneEnded => _ended.IsEmpty;

    /// <summary>The executions started and not yet seen ended (loop-owned).</summary>
    public ExecutionList Executions => _executions;

    /// <summary>Wires the attempt and the writer (they refer back to this tracker).</summary>
    public void Connect(RunAttempt attempt, IOutcomeWriter writer)
    {
        _attempt = attempt;
        _writer = writer;
    }

    /// <summary>Starts a claimed run of <paramref name="workflow"/> (looked up once, when the run was admitted): queued until <see cref="Launch"/>. <paramref name="cancelledByOverlap"/>: its schedule's policy is CancelOther.</summary>
    public RunExecution Start(RunLease lease, WorkflowDescriptor? workflow, bool cancelledByOverlap = false)
    {
        bool cancellable = workflow?.Timeout is not null || cancelledByOverlap;
        RunExecution execution;
        if (_spare.Count > 0)
        {
            execution = _spare.Pop();
            execution.Reuse(lease, workflow, cancellable, _stopping);
        }
        else
        {
            execution = new RunExecution(_attempt, lease, workflow, cancellable, _stopping);
        }

        _executions.Add(execution);
        Interlocked.Increment(ref _running);
        _starting.Add(execution);
        return execution;
    }

    /// <summary>
    /// Hands the runs started by this pass to the thread pool: a single run as its own work item; several as one
    /// <see cref="StartBatch"/>, whose threads take them in order and write their outcomes once at the end.
    /// </summary>
    public void Launch()
    {
        if (_starting.Count == 1)
        {
            // The global (FIFO) queue, so runs handed out in due order also start in that order. The execution is the
            // work item itself: nothing else is allocated to queue it.
            ThreadPool.UnsafeQueueUserWorkItem(_starting[0], preferLocal: false);
        }
        else if (_starting.Count > 1)
        {
            new StartBatch(_attempt, _writer, [.. _starting]).Launch();
        }

        _starting.Clear();
    }

    /// <summary>True when this process has started the run and not yet seen it end (loop only; a scan: for rare checks).</summary>
    public bool IsExecuting(Guid runId)
    {
        for (var execution = _executions.First; execution is not null; execution = execution.Next)
        {
            if (execution.Lease.Run.Id == runId)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Cancels the running runs of a schedule (<see cref="OverlapPolicy.CancelOther"/>). Loop only.</summary>
    public void CancelRunning(string schedule)
    {
        for (var execution = _executions.First; execution is not null; execution = execution.Next)
        {
            if (execution.Lease.Run.Kind != RunKind.OneTime && execution.Lease.Run.ScheduleId == schedule)
            {
                execution.CancelByOverlap();
            }
        }
    }

    /// <summary>Hands an ended run to the loop and wakes it.</summary>
    public void Ended(RunExecution execution)
    {
        execution.Dispose();
        _ended.Enqueue(execution);
        CountEnded(1);
        _signal.Set();
    }

    /// <summary>
    /// Hands a batch of ended runs to the loop at once (one lock, one atomic), without waking it; after this no
    /// execution of the batch may be touched: the loop may reuse them as soon as it sees them.
    /// </summary>
    public void EndedRange(List<RunExecution> batch)
    {
        foreach (var execution in batch)
        {
            execution.Dispose();
        }

        _ended.EnqueueRange(batch);
        CountEnded(batch.Count);
    }

    /// <summary>Takes the ended runs (loop only): each leaves the list of executions; <see cref="Recycle"/> it when done.</summary>
    public List<RunExecution> TakeEnded()
    {
        var ended = _ended.TakeAll();
        foreach (var execution in ended)
        {
            _executions.Remove(execution);
        }

        return ended;
    }

    /// <summary>
    /// Keeps an execution seen ended for the next start: its handler has returned, its outcome is written and it has
    /// left every queue, so nothing refers to it any more.
    /// </summary>
    public void Recycle(RunExecution execution)
    {
        if (_spare.Count < MaxSpareExecutions)
        {
            _spare.Push(execution);
        }
    }

    private void CountEnded(int count)
    {
        if (Interlocked.Add(ref _running, -count) == 0 && _stopping.IsCancellationRequested)
        {
            _allEnded.TrySetResult();
        }
    }
}
