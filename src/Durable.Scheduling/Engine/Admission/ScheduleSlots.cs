using Durable.Scheduling.Engine.Timing;

namespace Durable.Scheduling.Engine.Admission;

/// <summary>What the overlap policy of one recurring schedule needs: its runs active now and the occurrences it holds
/// back. Owned by the loop.</summary>
internal sealed class ScheduleSlots
{

    /// <summary>Occurrences admitted (claimed or running) and not yet seen ended by the loop.</summary>
    public int Active { get; set; }

    /// <summary>Occurrences held back by <see cref="OverlapPolicy.BufferOne"/>, <see cref="OverlapPolicy.BufferAll"/> or
    /// <see cref="OverlapPolicy.CancelOther"/>, in due order.</summary>
    public Queue<WheelNode> Buffer { get; } = new();
}
