using System.Runtime.InteropServices;

namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// Every run of the in-memory store in list order, each chunk summarized (runs per status, exactly; the workflows,
/// schedules and kinds it may hold), so a filtered list looks only at chunks that can hold a match; beside each entry
/// a tag (its workflow, kind and status, see <see cref="Tag"/>) rules most runs out without looking their slots up. A
/// slot names its chunk by number, and where in it the run was last seen, so a status change finds its entry without a
/// search most of the time. Not thread-safe (the store's lock).
/// </summary>
internal sealed class RunOrder : RunChunks
{
    private readonly RunTable _runs;
    private readonly List<RunChunk?> _numbered = [];
    private readonly Stack<int> _free = new();

    public RunOrder(RunTable runs)
        : base(tagged: true)
    {
        _runs = runs;
        OnCreated(Ordered[0]);
    }

    /// <summary>Adds a run whose slot is stored already, and records its chunk in the slot.</summary>
    public void Add(Guid id, ref Slot slot)
    {
        var chunk = Add(new RunKey(slot.Scheduled, id), Tag(slot), out int position);
        slot.Chunk = chunk.Number;
        slot.Hint = position;
        Note(chunk, slot);
    }

    /// <summary>Removes a run, given its slot as it was indexed (same instant, status and chunk).</summary>
    public void Remove(Guid id, in Slot slot)
    {
        var chunk = _numbered[slot.Chunk]!;
        chunk.Statuses![(int)slot.Status]--;
        Remove(new RunKey(slot.Scheduled, id), chunk, slot.Hint);
    }

    /// <summary>Moves a run from one status count of its chunk to another, and retags it (the slot holds the new status).</summary>
    public void StatusChanged(Guid id, ref Slot slot, RunStatus from)
    {
        var chunk = _numbered[slot.Chunk]!;
        var counts = chunk.Statuses!;
        counts[(int)from]--;
        counts[(int)slot.Status]++;
        var key = new RunKey(slot.Scheduled, id);
        int at = slot.Hint;
        if (!chunk.IsAt(at, key))
        {
            // Entries before it came or went since: search, and remember for the next change (a run usually changes
            // status twice, claimed and ended, soon after it was added).
            at = chunk.LowerBound(key);
            slot.Hint = at;
        }

        chunk.Tags[at] = Tag(slot);
    }

    /// <summary>An entry's tag: its workflow index, kind and status (the parts of a slot filters most often ask about).</summary>
    public static uint Tag(in Slot slot) => ((uint)slot.Workflow << 8) | ((uint)slot.Kind << 4) | (uint)slot.Status;

    /// <summary>The status in a tag.</summary>
    public static int StatusOf(uint tag) => (int)(tag & 0xF);

    /// <summary>The kind in a tag.</summary>
    public static int KindOf(uint tag) => (int)((tag >> 4) & 0xF);

    /// <summary>The workflow index in a tag.</summary>
    public static int WorkflowOf(uint tag) => (int)(tag >> 8);

    /// <summary>The bit a workflow or schedule index has in a chunk's summary.</summary>
    public static ulong Bit(int index) => 1UL << (index & 63);

    /// <summary>The index of the schedule a run counts for (its own, or its workflow's for an occurrence), or -1.</summary>
    public static int ScheduleIndex(in Slot slot) => slot.Schedule > 0 ? slot.Schedule - 1 : slot.Kind == RunKind.Occurrence ? slot.Workflow : -1;

    protected override void OnCreated(RunChunk chunk)
    {
        chunk.Statuses = new int[8];
        if (_free.TryPop(out int number))
        {
            _numbered[number] = chunk;
        }
        else
        {
            number = _numbered.Count;
            _numbered.Add(chunk);
        }

        chunk.Number = number;
    }

    protected override void OnMoved(RunChunk from, RunChunk to)
    {
        // The moved runs' slots learn their new chunk; the old chunk's kinds, workflows and schedules stay as they were
        // (a summary may claim more than a chunk holds, never less).
        for (int i = 0; i < to.Count; i++)
        {
            ref var slot = ref _runs.Find(to.Entries[i].Id);
            slot.Chunk = to.Number;
            slot.Hint = i;
            from.Statuses![(int)slot.Status]--;
            Note(to, slot);
        }
    }

    protected override void OnRemoved(RunChunk chunk)
    {
        _numbered[chunk.Number] = null;
        _free.Push(chunk.Number);
    }

    private static void Note(RunChunk chunk, in Slot slot)
    {
        chunk.Statuses![(int)slot.Status]++;
        chunk.Workflows |= Bit(slot.Workflow);
        chunk.Kinds |= 1 << (int)slot.Kind;
        if (ScheduleIndex(slot) is var schedule and >= 0)
        {
            chunk.Schedules |= Bit(schedule);
        }
    }
}
