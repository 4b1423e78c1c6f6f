namespace Durable.Scheduling.Engine.Concurrency;

/// <summary>
/// A queue many threads add to and one consumer empties a batch at a time: two lists swapped under a lock. Unlike a
/// <see cref="System.Collections.Concurrent.ConcurrentQueue{T}"/>, which allocates new segments as items flow through
/// it (large ones on the large-object heap), it reuses its two lists, so a steady flow of runs allocates nothing.
/// </summary>
/// <typeparam name="T">The item type.</typeparam>
internal sealed class BatchQueue<T>
{
    private readonly Lock _lock = new();
    private List<T> _filling = [];
    private List<T> _taken = [];
    private volatile int _count;

    /// <summary>True when nothing is queued (a snapshot: an add may follow at once).</summary>
    public bool IsEmpty => _count == 0;

    /// <summary>How many items are queued (a snapshot).</summary>
    public int Count => _count;

    public void Enqueue(T item)
    {
        lock (_lock)
        {
            _filling.Add(item);
            _count = _filling.Count;
        }
    }

    /// <summary>Adds several items at once, in order.</summary>
    public void EnqueueRange(List<T> items)
    {
        lock (_lock)
        {
            _filling.AddRange(items);
            _count = _filling.Count;
        }
    }

    /// <summary>
    /// Takes everything queued, oldest first. The list returned is the queue's own: valid until the next call, which
    /// only the one consumer (at a time) makes.
    /// </summary>
    public List<T> TakeAll()
    {
        _taken.Clear();
        lock (_lock)
        {
            (_filling, _taken) = (_taken, _filling);
            _count = 0;
        }

        return _taken;
    }
}
