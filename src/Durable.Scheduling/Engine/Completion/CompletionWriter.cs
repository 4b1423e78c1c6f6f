using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Concurrency;
using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Completion;

/// <summary>
/// Writes the outcomes of ended runs in batches (group commit), then hands the runs to the loop. No thread of its own:
/// whichever handler thread queues an outcome while no writer is at work becomes the writer (a thread running a
/// <see cref="StartBatch"/> writes when its batch is empty), and the loop writes outcomes stranded behind a handler
/// that blocks. One writer at a time.
/// </summary>
internal sealed class CompletionWriter(
    ISchedulingStore store,
    ExecutionTracker tracker,
    WakeSignal signal,
    int batchSize,
    bool wakeOnlyForOccurrences,
    ILogger logger,
    CancellationToken stopping) : IOutcomeWriter
{
    private readonly BatchQueue<RunExecution> _completions = new(); // outcome set on each
    private readonly List<RunExecution> _batch = []; // owned by the thread holding _writing
    private readonly List<RunCompletion> _records = [];
    private Task _latest = Task.CompletedTask; // the latest writer
    private int _writing; // 1 while one thread writes queued completions

    /// <summary>True when no outcome is queued and no writer is at work.</summary>
    public bool IsIdle => _completions.IsEmpty && Volatile.Read(ref _writing) == 0;

    /// <summary>The latest writer's work (awaited at stop).</summary>
    public Task Latest => Volatile.Read(ref _latest);

    public void Complete(RunExecution execution, RunStatus status, DateTimeOffset completedAt, RunError? error)
    {
        execution.SetOutcome(status, completedAt.UtcTicks, error);
        _completions.Enqueue(execution);
        if (StartBatch.CurrentWriter != this)
        {
            WriteQueued();
        }

        // Else a handler of a batch ended at once: the batch's thread writes what it queued when the batch has no runs
        // left to take (one store call for many runs), or the loop does if that thread stays in a later handler.
    }

    public void WriteQueued()
    {
        if (!_completions.IsEmpty && Interlocked.CompareExchange(ref _writing, 1, 0) == 0)
        {
            // No writer is active: this thread becomes it, and writes whatever other runs queue meanwhile too.
            Volatile.Write(ref _latest, WriteAllAsync());
        }
    }

    /// <summary>
    /// From the loop before it sleeps, and at stop: if completions are queued and no writer is at work (a batch thread
    /// that queued them went on into a handler that blocks), a pool thread writes them, so an outcome waits at most
    /// one wake of the loop.
    /// </summary>
    public void WriteStranded()
    {
        if (!_completions.IsEmpty && Volatile.Read(ref _writing) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static writer => writer.WriteQueued(), this, preferLocal: false);
        }
    }

    private async Task WriteAllAsync()
    {
        List<RunExecution>? taken = null;
        int next = 0;
        while (true)
        {
            if (taken is null || next == taken.Count)
            {
                taken = _completions.TakeAll(); // the queue's own list: only this writer takes from it
                next = 0;
            }

            _batch.Clear();
            for (; next < taken.Count && _batch.Count < batchSize; next++)
            {
                _batch.Add(taken[next]);
            }

            if (_batch.Count == 0)
            {
                Interlocked.Exchange(ref _writing, 0); // a full fence: the look below must not be read before this write

                // A completion queued after the last look but before the flag dropped found a writer: look again.
                if (_completions.IsEmpty || Interlocked.CompareExchange(ref _writing, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            await WriteBatchAsync().ConfigureAwait(false);

            // Once for the whole batch, and only when the loop has something to do about it (an occurrence's end may
            // start a buffered one). Ended one-time runs are forgotten at the loop's next pass, which a busy loop makes
            // within microseconds and an idle one within a poll; on a clock other than the system's it always wakes.
            bool wake = !wakeOnlyForOccurrences || stopping.IsCancellationRequested;
            foreach (var execution in _batch)
            {
                wake |= execution.Lease.Run.Kind == RunKind.Occurrence;
            }

            tracker.EndedRange(_batch);
            if (wake)
            {
                signal.Set();
            }

            _batch.Clear();
        }
    }

    private async Task WriteBatchAsync()
    {
        try
        {
            _records.Clear();
            foreach (var execution in _batch)
            {
                _records.Add(execution.Completion());
            }

            var results = await store.CompleteAsync(_records, CancellationToken.None).ConfigureAwait(false);
            for (int i = 0; i < _batch.Count; i++)
            {
                if (!results[i])
                {
                    Log.LeaseLost(logger, _batch[i].Lease.Run.Id, _batch[i].Lease.Run.WorkflowName);
                }
            }
        }
        catch (Exception e)
        {
            // Not stored: each lease expires and the run is retried (a store failure never escapes).
            foreach (var execution in _batch)
            {
                Log.CompletionFailed(logger, e, execution.Lease.Run.Id);
            }
        }
    }
}
