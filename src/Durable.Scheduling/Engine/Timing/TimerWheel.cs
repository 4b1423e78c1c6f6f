using System.Numerics;
using System.Runtime.CompilerServices;

namespace Durable.Scheduling.Engine.Timing;

/// <summary>
/// A hierarchical timer wheel of five levels of 64 slots over 1 ms ticks (64 ms, 4.1 s, 4.4 min, 4.7 h, 12.4 days),
/// with exact due instants kept on each node so nothing fires early. Insert and cancel are O(1) (intrusive
/// doubly-linked lists); advancing costs one slot check per elapsed millisecond plus the cascades. A slot keeps its
/// nodes in the order they came (added at the tail, cascaded in order), so runs due at the same instant are handed out
/// as they were filed. Not thread-safe: owned by the scheduler loop.
/// </summary>
internal sealed class TimerWheel
{
    public const int ReadyLevel = 5;
    public const int OverflowLevel = 6;
    private const int Levels = 5;
    private const int SlotBits = 6;
    private const int SlotCount = 1 << SlotBits;
    private const long TickLength = TimeSpan.TicksPerMillisecond;
    private const long MaxStepsBeforeRebuild = 1 << 16; // ~65 s of 1 ms steps; a longer gap rebuilds instead

    private readonly WheelNode?[][] _slots = new WheelNode?[OverflowLevel + 1][];
    private readonly WheelNode?[][] _tails = new WheelNode?[OverflowLevel + 1][];
    private readonly int[] _perLevel = new int[OverflowLevel + 1];
    private long _current;

    public TimerWheel(long nowTicks)
    {
        for (int level = 0; level < _slots.Length; level++)
        {
            _slots[level] = new WheelNode?[level < Levels ? SlotCount : 1];
            _tails[level] = new WheelNode?[_slots[level].Length];
        }

        _current = nowTicks / TickLength;
    }

    /// <summary>How many nodes the wheel holds.</summary>
    public int Count { get; private set; }

    /// <summary>The current position (UTC ticks, millisecond resolution): everything before it has been handed out.</summary>
    public long CurrentTicks => _current * TickLength;

    /// <summary>Adds a node; one due at or before the current position is ready at once.</summary>
    public void Add(WheelNode node)
    {
        long tick = node.DueTicks / TickLength;
        long delta = tick - _current;
        int level;
        int slot = 0;
        if (delta <= 0)
        {
            level = ReadyLevel;
        }
        else
        {
            level = (63 - BitOperations.LeadingZeroCount((ulong)delta)) / SlotBits;
            if (level >= Levels)
            {
                level = OverflowLevel;
            }
            else
            {
                slot = (int)((tick >> (SlotBits * level)) & (SlotCount - 1));
            }
        }

        Link(node, level, slot);
        Count++;
    }

    /// <summary>Removes a node in O(1); a node not in the wheel is ignored.</summary>
    public bool Remove(WheelNode node)
    {
        if (node.Level < 0)
        {
            return false;
        }

        Unlink(node);
        Count--;
        return true;
    }

    /// <summary>Moves the wheel to <paramref name="nowTicks"/> and hands out every node due at or before it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hands out every due node at an instant: no recompiling mid-loop
    public void Advance(long nowTicks, List<WheelNode> due)
    {
        long target = nowTicks / TickLength;
        if (target - _current > MaxStepsBeforeRebuild || target < _current)
        {
            Rebuild(nowTicks);
        }

        while (_current < target)
        {
            if (Count == _perLevel[ReadyLevel])
            {
                // Nothing left to cascade: jump straight to the target.
                _current = target;
                break;
            }

            _current++;
            for (int level = Levels - 1; level >= 1; level--)
            {
                if ((_current & ((1L << (SlotBits * level)) - 1)) == 0)
                {
                    Cascade(level, (int)((_current >> (SlotBits * level)) & (SlotCount - 1)));
                }
            }

            if ((_current & ((1L << (SlotBits * Levels)) - 1)) == 0)
            {
                Cascade(OverflowLevel, 0);
            }

            Cascade(0, (int)(_current & (SlotCount - 1)));
        }

        for (var node = _slots[ReadyLevel][0]; node is not null;)
        {
            var next = node.Next;
            if (node.DueTicks <= nowTicks)
            {
                Unlink(node);
                Count--;
                due.Add(node);
            }

            node = next;
        }
    }

    /// <summary>The earliest exact due instant in the wheel, or <see cref="long.MaxValue"/> when empty.</summary>
    /// <remarks>
    /// A node's level was chosen by its distance when it was added, and the wheel has moved since: a node filed long
    /// ago at a high level may be due before every node of a lower level. So each level's earliest slot is looked at,
    /// not only the lowest level's. Within a level, slots ahead of the position cover consecutive windows, so the first
    /// non-empty one holds that level's earliest node.
    /// </remarks>
    public long NextDueTicks()
    {
        if (Count == 0)
        {
            return long.MaxValue;
        }

        long best = MinOf(_slots[ReadyLevel][0]);
        for (int level = 0; level < Levels; level++)
        {
            if (_perLevel[level] == 0)
            {
                continue;
            }

            int position = (int)((_current >> (SlotBits * level)) & (SlotCount - 1));
            for (int i = 1; i <= SlotCount; i++)
            {
                long min = MinOf(_slots[level][(position + i) & (SlotCount - 1)]);
                if (min != long.MaxValue)
                {
                    best = Math.Min(best, min);
                    break;
                }
            }
        }

        return Math.Min(best, MinOf(_slots[OverflowLevel][0]));
    }

    /// <summary>Re-files every node relative to <paramref name="nowTicks"/> (after a wall-clock jump).</summary>
    public void Rebuild(long nowTicks)
    {
        var all = new List<WheelNode>(Count);
        foreach (var level in _slots)
        {
            for (int i = 0; i < level.Length; i++)
            {
                for (var node = level[i]; node is not null; node = node.Next)
                {
                    all.Add(node);
                }

                level[i] = null;
            }
        }

        foreach (var tails in _tails)
        {
            Array.Clear(tails);
        }

        Array.Clear(_perLevel);
        _current = nowTicks / TickLength;
        Count = 0;
        foreach (var node in all)
        {
            node.Level = -1;
            node.Previous = node.Next = null;
            Add(node);
        }
    }

    private void Cascade(int level, int slot)
    {
        var node = _slots[level][slot];
        _slots[level][slot] = null;
        _tails[level][slot] = null;
        for (var n = node; n is not null; n = n.Next)
        {
            _perLevel[level]--;
        }

        while (node is not null)
        {
            var next = node.Next;
            node.Level = -1;
            node.Previous = node.Next = null;
            Count--;
            Add(node);
            node = next;
        }
    }

    private static long MinOf(WheelNode? head)
    {
        long min = long.MaxValue;
        for (var node = head; node is not null; node = node.Next)
        {
            min = Math.Min(min, node.DueTicks);
        }

        return min;
    }

    private void Link(WheelNode node, int level, int slot)
    {
        var tail = _tails[level][slot];
        node.Previous = tail;
        node.Next = null;
        if (tail is null)
        {
            _slots[level][slot] = node;
        }
        else
        {
            tail.Next = node;
        }

        _tails[level][slot] = node;
        node.Level = level;
        node.Slot = slot;
        _perLevel[level]++;
    }

    private void Unlink(WheelNode node)
    {
        _perLevel[node.Level]--;
        if (node.Previous is null)
        {
            _slots[node.Level][node.Slot] = node.Next;
        }
        else
        {
            node.Previous.Next = node.Next;
        }

        if (node.Next is null)
        {
            _tails[node.Level][node.Slot] = node.Previous;
        }
        else
        {
            node.Next.Previous = node.Previous;
        }

        node.Previous = node.Next = null;
        node.Level = -1;
    }
}
