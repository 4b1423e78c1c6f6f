namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// How the scheduler loop sleeps until its next instant. Two strategies: <see cref="SystemClockWait"/> for
/// <see cref="TimeProvider.System"/> (precise: it finishes a wait on a monotonic clock and hands runs over a little
/// early), and <see cref="TimeProviderWait"/> for any other clock (a fake one in tests: every wait is a timer of that
/// clock, so moving the clock is what wakes the loop). The loop's code is the same with either.
/// </summary>
internal abstract class LoopWait
{
    protected LoopWait(WakeSignal signal, TimeSpan pollInterval)
    {
        Signal = signal;
        PollInterval = pollInterval;
    }

    /// <summary>True on the real clock: runs are handed over early and spin to their instant, and the loop batches
    /// wakes for freed concurrency slots instead of waking once per run ending.</summary>
    public abstract bool IsPrecise { get; }

    /// <summary>How long before its instant a run claimed ahead is handed to a pool thread (which then waits for it).</summary>
    public abstract long HandOffTicks { get; }

    protected WakeSignal Signal { get; }

    protected TimeSpan PollInterval { get; }

    /// <summary>Picks the strategy for a clock.</summary>
    public static LoopWait For(TimeProvider time, WakeSignal signal, TimeSpan pollInterval) =>
        ReferenceEquals(time, TimeProvider.System) ? new SystemClockWait(signal, pollInterval) : new TimeProviderWait(signal, pollInterval);

    /// <summary>
    /// Sleeps until <paramref name="nextTicks"/> (the earliest thing the loop has to do), a poll interval at most, or
    /// until woken.
    /// </summary>
    /// <param name="nowTicks">The clock's current UTC ticks.</param>
    /// <param name="nextStartTicks">When a run claimed ahead or held must start (needs precision), or <see cref="long.MaxValue"/>.</param>
    /// <param name="nextTicks">The earliest of that, the next claim and the next feed (after <paramref name="nowTicks"/>).</param>
    /// <param name="slotWanted">Runs wait for a concurrency slot.</param>
    /// <param name="stop">Ends the wait at once.</param>
    public abstract Task WaitAsync(long nowTicks, long nextStartTicks, long nextTicks, bool slotWanted, CancellationToken stop);
}
