using System.Collections;

namespace Durable.Scheduling.Schedules;

/// <summary>
/// A description's next fire times, worked out when first read: a spec's fire times from a given instant are fixed, so
/// computing them late gives what computing them at once would, and a caller that never reads them (an application
/// creating its schedules at start-up) does not pay for them. Thread-safe: concurrent first reads compute the same list.
/// </summary>
internal sealed class FireTimePreview(CompiledSpec spec, long fromTicks, int count) : IReadOnlyList<FireTime>
{
    private List<FireTime>? _items;

    public int Count => Items.Count;

    public FireTime this[int index] => Items[index];

    private List<FireTime> Items => Volatile.Read(ref _items) ?? Compute();

    public IEnumerator<FireTime> GetEnumerator() => Items.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private List<FireTime> Compute()
    {
        var items = spec.Preview(fromTicks, count);
        return Interlocked.CompareExchange(ref _items, items, null) ?? items;
    }
}
