namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// Waits on any <see cref="TimeProvider"/> (a fake one in tests): one timer of that clock per wait, no spinning, no early
/// hand-over, so a run starts exactly when the clock reaches its instant.
/// </summary>
internal sealed class TimeProviderWait(WakeSignal signal, TimeSpan pollInterval) : LoopWait(signal, pollInterval)
{
    public override bool IsPrecise => false;

    public override long HandOffTicks => 0;

    public override async Task WaitAsync(long nowTicks, long nextStartTicks, long nextTicks, bool slotWanted, CancellationToken stop)
    {
        var timeout = TimeSpan.FromTicks(Math.Min(nextTicks - nowTicks, PollInterval.Ticks));
        await Signal.WaitAsync(timeout, stop).ConfigureAwait(false);
        Signal.Reset();
    }
}
