namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// Wakes the scheduler loop: set by new work, by run completions and by its own timer (from the scheduler's
/// <see cref="TimeProvider"/>, so fake time drives it in tests). One waiter at a time.
/// </summary>
internal sealed class WakeSignal : IDisposable
{
    private readonly ITimer _timer;
    private TaskCompletionSource _waiter = NewWaiter();
    private int _set;
    private bool _waiting;

    public WakeSignal(TimeProvider time)
    {
        _timer = time.CreateTimer(static state => ((WakeSignal)state!).Set(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True when a wake is pending that the loop has not consumed.</summary>
    public bool IsSet => Volatile.Read(ref _set) == 1;

    public void Set()
    {
        // A plain read first: while the loop is busy the signal is usually set already, and many threads set it.
        if (Volatile.Read(ref _set) == 0 && Interlocked.Exchange(ref _set, 1) == 0)
        {
            Volatile.Read(ref _waiter).TrySetResult();
        }
    }

    /// <summary>
    /// Waits until set or until <paramref name="timeout"/> passes on the scheduler's clock. A wake stays pending
    /// (<see cref="IsSet"/>) until <see cref="Reset"/> or the next wait consumes it.
    /// </summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _set, 0) == 1)
        {
            return;
        }

        var waiter = NewWaiter();
        Volatile.Write(ref _waiter, waiter);
        if (Interlocked.Exchange(ref _set, 0) == 1)
        {
            return;
        }

        _timer.Change(timeout, Timeout.InfiniteTimeSpan);
        using (cancellationToken.UnsafeRegister(static s => ((TaskCompletionSource)s!).TrySetResult(), waiter))
        {
            Volatile.Write(ref _waiting, true);
            await waiter.Task.ConfigureAwait(false);
            Volatile.Write(ref _waiting, false);
        }

        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>True while a waiter is parked with its timer armed (and nothing has woken it yet).</summary>
    public bool IsWaiting => Volatile.Read(ref _waiting) && !IsSet;

    /// <summary>Consumes a pending wake (the caller is about to look for work anyway).</summary>
    public void Reset() => Interlocked.Exchange(ref _set, 0);

    public void Dispose() => _timer.Dispose();

    private static TaskCompletionSource NewWaiter() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
