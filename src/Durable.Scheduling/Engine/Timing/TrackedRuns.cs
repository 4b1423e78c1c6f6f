namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// The runs the loop knows to fall due soon: the timer wheel, plus a set by run id (so a run loaded twice is filed
/// once, and a change to a run finds its node), plus a pool of nodes to reuse. Owned by the loop; not thread-safe.
/// </summary>
internal sealed class TrackedRuns
{
    private const int MaxSpareNodes = 4096;
    private readonly Dictionary<Guid, WheelNode> _known = new(RunIdComparer.Instance);
    private readonly Stack<WheelNode> _spareNodes = new();
    private readonly TimerWheel _wheel;

    public TrackedRuns(long nowTicks)
    {
        _wheel = new TimerWheel(nowTicks);
    }

    /// <summary>Files a run for its due instant and remembers it.</summary>
    public void Track(Guid id, long dueTicks, string workflow, RunKind kind, string? schedule = null, OverlapPolicy? overlap = null)
    {
        var node = NewNode(id, dueTicks, workflow, kind, ScheduleKeys.Of(kind, schedule, workflow), overlap);
        node.Tracked = true;
        _known[id] = node;
        _wheel.Add(node);
    }

    /// <summary>True when the run is filed (or was admitted and not yet claimed).</summary>
    public bool Contains(Guid id) => _known.ContainsKey(id);

    /// <summary>Forgets a run and takes its node out of the wheel, if it is there.</summary>
    public void Remove(Guid id)
    {
        if (_known.Remove(id, out var node))
        {
            _wheel.Remove(node);
        }
    }

    /// <summary>Forgets a run whose node has already left the wheel (it fell due).</summary>
    public void Forget(Guid id) => _known.Remove(id);

    /// <summary>Moves the nodes due at or before <paramref name="nowTicks"/> to <paramref name="due"/>.</summary>
    public void Advance(long nowTicks, List<WheelNode> due) => _wheel.Advance(nowTicks, due);

    /// <summary>The earliest due instant in the wheel, or <see cref="long.MaxValue"/>.</summary>
    public long NextDueTicks() => _wheel.NextDueTicks();

    /// <summary>Re-files every node after the wall clock jumped.</summary>
    public void Rebuild(long nowTicks) => _wheel.Rebuild(nowTicks);

    /// <summary>Keeps a node nothing refers to any more (out of the wheel, claimed or given up) for the next run.</summary>
    public void Recycle(WheelNode node)
    {
        if (node.Level < 0 && _spareNodes.Count < MaxSpareNodes)
        {
            _spareNodes.Push(node);
        }
    }

    private WheelNode NewNode(Guid id, long dueTicks, string workflow, RunKind kind, string? schedule, OverlapPolicy? overlap)
    {
        if (_spareNodes.Count > 0)
        {
            var node = _spareNodes.Pop();
            node.Reuse(id, dueTicks, workflow, kind, schedule, overlap);
            return node;
        }

        return new WheelNode(id, dueTicks, workflow, kind, schedule, overlap);
    }
}
