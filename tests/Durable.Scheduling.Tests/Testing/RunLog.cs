using System.Collections.Concurrent;

namespace Durable.Scheduling.Tests.Testing;

/// <summary>What test workflows did, in order: one entry per handler invocation.</summary>
public sealed class RunLog
{
    private int _parked;

    public ConcurrentQueue<Invocation> Invocations { get; } = new();

    /// <summary>Handlers now waiting on the fake clock (a harness settles when every executing handler is parked).</summary>
    public int Parked => Volatile.Read(ref _parked);

    public void Record(ScheduledRunContext context, object? input = null) =>
        Invocations.Enqueue(new Invocation(context.WorkflowName, context.RunId, context.ScheduledTime, context.StartedAt, context.Attempt, context.IdempotencyKey, input, context.ScheduleId, context.Kind));

    public IReadOnlyList<Invocation> Of(string workflow) => Invocations.Where(i => i.Workflow == workflow).ToList();

    public IReadOnlyList<Invocation> OfSchedule(string schedule) => Invocations.Where(i => i.ScheduleId == schedule).ToList();

    /// <summary>
    /// Waits on the fake clock, counted as parked so the harness can settle meanwhile. The count drops inside the timer
    /// or cancellation callback itself (synchronously, while the clock moves), so the harness never mistakes a handler
    /// that is about to resume for one still parked.
    /// </summary>
    public async Task ParkAsync(TimeSpan duration, TimeProvider time, CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int unparked = 0;
        void Unpark(bool cancelled)
        {
            if (Interlocked.Exchange(ref unparked, 1) == 0)
            {
                Interlocked.Decrement(ref _parked);
                if (cancelled)
                {
                    done.TrySetCanceled(cancellationToken);
                }
                else
                {
                    done.TrySetResult();
                }
            }
        }

        // Counted as parked only once its timer exists: a harness that settles on the count must not move the clock
        // before the timer is armed (the timer would then be armed from the later instant, and never fire in time).
        using var timer = time.CreateTimer(_ => Unpark(false), null, duration, Timeout.InfiniteTimeSpan);
        using var registration = cancellationToken.Register(() => Unpark(true));
        Interlocked.Increment(ref _parked);
        await done.Task;
    }

    public sealed record Invocation(string Workflow, Guid RunId, DateTimeOffset Scheduled, DateTimeOffset Started, int Attempt, string Key, object? Input, string? ScheduleId = null, RunKind Kind = RunKind.OneTime);
}
