using Durable.Scheduling.Engine.Timing;

namespace Durable.Scheduling.Engine.Execution;

/// <summary>
/// Runs started together, run by a few pool threads that take them in order (a shared index) rather than one work
/// item each: handlers that end at once run back to back, and each thread writes the outcomes it queued in one store
/// call when no run is left to take. While runs are left, one more work item for the batch is always queued, so runs
/// never wait behind a handler that blocks its thread (another thread, or one the pool adds when all are blocked,
/// takes them).
/// </summary>
internal sealed class StartBatch(RunAttempt attempt, IOutcomeWriter writer, RunExecution[] executions) : IThreadPoolWorkItem
{
    [ThreadStatic] private static IOutcomeWriter? t_writer;
    private int _next;
    private int _queued;

    /// <summary>The writer whose batch this thread is running now (its outcomes are written when the batch is empty).</summary>
    public static IOutcomeWriter? CurrentWriter => t_writer;

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
        var outer = t_writer;
        t_writer = writer;
        try
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < executions.Length)
            {
                var execution = executions[i];
                if (execution.StartAt != 0)
                {
                    // Handed over before its instant: wait for it before queueing a helper. A thread waiting for the
                    // instant is not a handler blocking its thread, and helpers queued meanwhile would each take a run
                    // and wait too, so every pool thread would spin until the instant and then write its own outcomes.
                    PreciseDelay.Spin(execution.StartAt);
                }

                if (i + 1 < executions.Length && Volatile.Read(ref _queued) == 0)
                {
                    Interlocked.Increment(ref _queued);
                    ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                }

                _ = attempt.ExecuteAsync(execution);
            }
        }
        finally
        {
            t_writer = outer;
        }

        writer.WriteQueued();
    }
}
