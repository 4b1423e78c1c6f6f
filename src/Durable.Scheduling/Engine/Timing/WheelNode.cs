namespace Durable.Scheduling.Engine.Timing;

/// <summary>An entry of the <see cref="TimerWheel"/>: a run due at an exact instant (UTC ticks).</summary>
internal sealed class WheelNode
{
    public WheelNode(Guid id, long dueTicks, string workflow, RunKind kind, string? schedule, OverlapPolicy? overlap) => Reuse(id, dueTicks, workflow, kind, schedule, overlap);

    public Guid Id { get; private set; }

    public long DueTicks { get; set; }

    public string Workflow { get; private set; }

    public RunKind Kind { get; private set; }

    /// <summary>The schedule whose overlap policy applies (null for a one-time run).</summary>
    public string? Schedule { get; private set; }

    /// <summary>The run's own overlap policy (a trigger's or backfill's), or null: its schedule's.</summary>
    public OverlapPolicy? Overlap { get; private set; }

    /// <summary>True when the node is in the scheduler's known set (false for a run filed straight as due).</summary>
    public bool Tracked { get; set; }

    /// <summary>The workflow, as looked up when the node was admitted (null before, or when not defined here).</summary>
    public WorkflowDescriptor? Descriptor { get; set; }

    /// <summary>
    /// Makes a node no longer referenced anywhere (see <see cref="TrackedRuns"/>'s pool) a new one; the
    /// constructor's work too.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(Workflow))]
    public void Reuse(Guid id, long dueTicks, string workflow, RunKind kind, string? schedule, OverlapPolicy? overlap)
    {
        Schedule = schedule;
        Overlap = overlap;
        Id = id;
        DueTicks = dueTicks;
        Workflow = workflow;
        Kind = kind;
        Descriptor = null;
        Tracked = false;
        Previous = null;
        Next = null;
        Level = -1;
        Slot = 0;
    }

    internal WheelNode? Previous { get; set; }

    internal WheelNode? Next { get; set; }

    /// <summary>-1 when not in the wheel, 0-4 a level, <see cref="TimerWheel.ReadyLevel"/> or <see cref="TimerWheel.OverflowLevel"/>.</summary>
    internal int Level { get; set; } = -1;

    internal int Slot { get; set; }
}
