namespace Durable.Scheduling.Engine;

/// <summary>
/// How the loop is faring, as the health check reads it: when it last got through a pass, how many passes in a row
/// failed and with what, and how many handlers still run past their workflow's timeout. Written by the loop only
/// (a few stores per pass, no lock); read from any thread, each value on its own.
/// </summary>
internal sealed class LoopHealth
{
    private long _progressTicks = long.MinValue;
    private int _failures;
    private Exception? _lastError;
    private int _overdueHandlers;

    /// <summary>When (UTC ticks, the scheduler's clock) a pass last ended without an error; <see cref="long.MinValue"/> before the first.</summary>
    public long ProgressTicks => Volatile.Read(ref _progressTicks);

    /// <summary>Passes failed in a row since the last one that succeeded (each retried after a back-off).</summary>
    public int Failures => Volatile.Read(ref _failures);

    /// <summary>What the last failed pass threw, while passes fail; null once one succeeds.</summary>
    public Exception? LastError => Volatile.Read(ref _lastError);

    /// <summary>Handlers of this process whose workflow's timeout has fired and that have not returned yet.</summary>
    public int OverdueHandlers => Volatile.Read(ref _overdueHandlers);

    /// <summary>A pass ended without an error at <paramref name="nowTicks"/> (or the loop got to start another).</summary>
    public void Progressed(long nowTicks)
    {
        Volatile.Write(ref _progressTicks, nowTicks);
        if (_failures != 0)
        {
            Volatile.Write(ref _lastError, null);
            Volatile.Write(ref _failures, 0);
        }
    }

    /// <summary>A pass failed with <paramref name="error"/>, the <paramref name="failures"/>-th in a row.</summary>
    public void Failed(Exception error, int failures)
    {
        Volatile.Write(ref _lastError, error);
        Volatile.Write(ref _failures, failures);
    }

    /// <summary>The count of handlers past their timeout, as the loop last saw it.</summary>
    public void Overdue(int handlers) => Volatile.Write(ref _overdueHandlers, handlers);
}
