namespace Durable.Scheduling.Engine.Admission;

/// <summary>
/// The <see cref="SchedulingOptions.MaxConcurrency"/> slots of this process: taken when a run is admitted (before its
/// claim), given back when its handler returns or its claim fails. Read and released from any thread; reserved by
/// the loop.
/// </summary>
internal sealed class ConcurrencySlots
{
    private readonly int _wakeAt;
    private int _active;
    private volatile bool _wanted;

    /// <param name="max">The most runs at once.</param>
    /// <param name="batchWakes">On the real clock, slots freed under load wake the loop once half of them are free
    /// (it also looks every millisecond while runs wait), rather than once per run ending.</param>
    public ConcurrencySlots(int max, bool batchWakes)
    {
        Max = max;
        _wakeAt = batchWakes ? max - Math.Max(1, max / 2) : max - 1;
    }

    public int Max { get; }

    /// <summary>Slots taken: runs admitted or claimed whose handler has not returned.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>True while due runs wait for a slot.</summary>
    public bool Wanted
    {
        get => _wanted;
        set => _wanted = value;
    }

    /// <summary>Takes slots counted by the caller, with one atomic add.</summary>
    public void Take(int count) => Interlocked.Add(ref _active, count);

    public void Take() => Interlocked.Increment(ref _active);

    /// <summary>Gives a slot back without waking anyone (the run never started).</summary>
    public void GiveBack() => Interlocked.Decrement(ref _active);

    /// <summary>Gives back the slot of a run whose handler returned; true when the loop should wake for waiting runs.</summary>
    public bool Free() => Interlocked.Decrement(ref _active) <= _wakeAt && _wanted;
}
