namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// Notices wall-clock jumps between two passes of the loop: the wall clock (<see cref="TimeProvider.GetUtcNow"/>)
/// moving by more than the monotonic clock (<see cref="TimeProvider.GetTimestamp"/>) did, beyond a small tolerance, in
/// either direction. Time passing is never a jump, however long the loop slept or however far a fake clock was moved
/// at once (a fake clock moves both). Owned by the loop.
/// </summary>
internal sealed class ClockWatch
{
    private static readonly long s_toleranceTicks = TimeSpan.FromSeconds(2).Ticks;
    private readonly TimeProvider _time;
    private long _lastWallTicks;
    private long _lastTimestamp;

    public ClockWatch(TimeProvider time, long startTicks)
    {
        _time = time;
        _lastWallTicks = startTicks;
        _lastTimestamp = time.GetTimestamp();
    }

    /// <summary>Records the current instant; returns how far the wall clock jumped since the last one, or null.</summary>
    public TimeSpan? Observe(long nowTicks)
    {
        long timestamp = _time.GetTimestamp();
        long elapsedTicks = (long)((timestamp - _lastTimestamp) * ((double)TimeSpan.TicksPerSecond / _time.TimestampFrequency));
        long jump = nowTicks - _lastWallTicks - elapsedTicks;
        _lastWallTicks = nowTicks;
        _lastTimestamp = timestamp;
        return Math.Abs(jump) > s_toleranceTicks ? TimeSpan.FromTicks(jump) : null;
    }
}
