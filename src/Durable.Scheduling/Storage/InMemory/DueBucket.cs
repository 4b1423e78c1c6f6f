namespace Durable.Scheduling.Storage.InMemory;

/// <summary>Runs due within one second; sorted lazily, stale entries dropped when visited.</summary>
internal sealed class DueBucket
{
    private bool _sorted = true;

    public List<(long Due, Guid Id)> Entries { get; } = [];

    public void Add(long due, Guid id)
    {
        if (Entries.Count > 0 && _sorted && Entries[^1].CompareTo((due, id)) > 0)
        {
            _sorted = false;
        }

        Entries.Add((due, id));
    }

    public void EnsureSorted()
    {
        if (!_sorted)
        {
            Entries.Sort();
            _sorted = true;
        }
    }

    public void Compact(Dictionary<Guid, Slot> runs) =>
        Entries.RemoveAll(e => !runs.TryGetValue(e.Id, out var slot) || slot.Status != RunStatus.Pending || slot.Due != e.Due);
}
