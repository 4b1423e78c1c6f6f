namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// Notices wall-clock jumps between two passes of the loop: backward beyond a small tolerance, or forward by more than
/// a sleep can explain (a poll interval plus the look-ahead). Owned by the loop.
/// </summary>
internal sealed class ClockWatch(long startTicks, TimeSpan pollInterval, TimeSpan lookAhead)
{
    private static readonly long s_backwardTolerance = TimeSpan.FromSeconds(2).Ticks;
    private readonly long _forwardLimit = pollInterval.Ticks + lookAhead.Ticks;
    private long _lastTicks = startTicks;

    /// <summary>Records the current instant; returns the jump since the last one, or null when it was no jump.</summary>
    public TimeSpan? Observe(long nowTicks)
    {
        long step = nowTicks - _lastTicks;
        _lastTicks = nowTicks;
        return step < -s_backwardTolerance || step > _forwardLimit ? TimeSpan.FromTicks(step) : null;
    }
}
