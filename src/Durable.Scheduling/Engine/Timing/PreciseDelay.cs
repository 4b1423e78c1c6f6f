using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// The last few milliseconds of a wait on the real clock. The .NET timer queue runs on a 4 ms tick on Linux and may
/// fire early or several milliseconds late, so the scheduler sleeps with it only until <see cref="Window"/> before the
/// due instant and finishes here: <c>clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)</c> on Linux (a fraction of a
/// millisecond late, no busy CPU), then a spin of at most <see cref="SpinWindow"/>. Used only with <see cref="TimeProvider.System"/>.
/// </summary>
internal static partial class PreciseDelay
{
    /// <summary>How long before the due instant the coarse timer hands over.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMilliseconds(8);

    private static readonly long SpinWindow = Stopwatch.Frequency / 5000; // 0.2 ms
    private static bool s_nanosleepWorks = OperatingSystem.IsLinux();

    /// <summary>Blocks until the monotonic timestamp <paramref name="target"/> (a <see cref="Stopwatch"/> value).</summary>
    /// <remarks>Compiled optimized at once: recompiling the spin loop while it runs would make the wait late.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Until(long target)
    {
        long sleepUntil = target - SpinWindow;
        if (s_nanosleepWorks && Stopwatch.Frequency == 1_000_000_000 && Stopwatch.GetTimestamp() < sleepUntil)
        {
            try
            {
                var spec = new TimeSpec { Seconds = sleepUntil / 1_000_000_000, Nanoseconds = sleepUntil % 1_000_000_000 };
                while (ClockNanosleep(ClockMonotonic, TimerAbsoluteTime, ref spec, IntPtr.Zero) == EInterrupted)
                {
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                s_nanosleepWorks = false;
            }
        }

        Spin(target);
    }

    /// <summary>Spins (no sleep) until the monotonic timestamp <paramref name="target"/>: for waits of a fraction of a millisecond.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Spin(long target)
    {
        var spinner = default(SpinWait);
        while (Stopwatch.GetTimestamp() < target)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
        }
    }

    private const int ClockMonotonic = 1;
    private const int TimerAbsoluteTime = 1;
    private const int EInterrupted = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clock, int flags, ref TimeSpec request, IntPtr remain);
}
