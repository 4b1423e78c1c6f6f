using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// Waits on the real clock, where the timer queue may fire milliseconds late: it sleeps on a timer only until
/// <see cref="PreciseDelay.Window"/> before the next start, finishes that wait precisely, and watches the signal for a
/// few microseconds before parking (work arriving back to back costs less than a park and a wake).
/// </summary>
internal sealed class SystemClockWait(WakeSignal signal, TimeSpan pollInterval) : LoopWait(signal, pollInterval)
{
    // Waking a parked pool thread takes a fraction of a millisecond on a small VM: runs claimed ahead are handed over
    // this long before their instant and their thread spins until it, so the wake-up is not lateness.
    private static readonly long s_handOffTicks = TimeSpan.FromMilliseconds(0.5).Ticks;
    private static readonly long s_spinBeforeParking = Stopwatch.Frequency / 20_000; // 50 µs
    private static readonly TimeSpan s_slotPoll = TimeSpan.FromMilliseconds(1);
    private static readonly double s_ticksToTimestamp = Stopwatch.Frequency / (double)TimeSpan.TicksPerSecond;

    public override bool IsPrecise => true;

    public override long HandOffTicks => s_handOffTicks;

    public override async Task WaitAsync(long nowTicks, long nextStartTicks, long nextTicks, bool slotWanted, CancellationToken stop)
    {
        // The timer only sleeps until the precise window before the next start (or until the next claim or feed, which
        // need no precision); the rest of a wait within that window is precise.
        long coarseUntil = Math.Min(nextTicks, nextStartTicks - PreciseDelay.Window.Ticks);
        if (coarseUntil <= nowTicks)
        {
            PreciseDelay.Until(Stopwatch.GetTimestamp() + (long)((nextTicks - nowTicks) * s_ticksToTimestamp));
            return;
        }

        if (!slotWanted && SpinForWake())
        {
            return;
        }

        // Runs waiting for a slot: look again within a millisecond (slots freed below the batch threshold wake nobody).
        var longest = slotWanted ? s_slotPoll : PollInterval;
        var coarse = TimeSpan.FromTicks(Math.Min(coarseUntil - nowTicks, longest.Ticks));
        await Signal.WaitAsync(coarse, stop).ConfigureAwait(false);
        Signal.Reset();
    }

    /// <summary>The <see cref="Stopwatch"/> timestamp at which <paramref name="dueTicks"/> comes, seen from <paramref name="nowTicks"/>.</summary>
    public static long TimestampAt(long dueTicks, long nowTicks) =>
        Stopwatch.GetTimestamp() + (long)((dueTicks - nowTicks) * s_ticksToTimestamp);

    /// <summary>Watches the signal for a few microseconds before parking; true when woken.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a spin loop: no recompiling while it runs
    private bool SpinForWake()
    {
        long until = Stopwatch.GetTimestamp() + s_spinBeforeParking;
        var spinner = default(SpinWait);
        while (Stopwatch.GetTimestamp() < until)
        {
            if (Signal.IsSet)
            {
                Signal.Reset();
                return true;
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }

        return false;
    }
}
