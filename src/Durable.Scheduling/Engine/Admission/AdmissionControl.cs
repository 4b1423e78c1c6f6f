using System.Runtime.CompilerServices;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Engine.Timing;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Admission;

/// <summary>
/// Decides, synchronously, what happens to the runs that fall due: claimed now (a concurrency slot reserved), held
/// for their instant (an overlap policy needs to know what is still running then), waiting for a slot, buffered or
/// skipped by the schedule's <see cref="OverlapPolicy"/>, or left pending (a workflow not defined in this process).
/// Owned by the loop; no I/O.
/// </summary>
internal sealed class AdmissionControl
{
    private readonly ConcurrencySlots _slots;
    private readonly Func<string, WorkflowDescriptor?> _find;
    private readonly ScheduleBook _book;
    private readonly Action<string> _cancelRunning;
    private readonly ILogger _logger;
    private readonly Dictionary<string, ScheduleSlots> _schedules = new(StringComparer.Ordinal);
    private readonly Queue<Waiting> _waiting = new(); // due runs waiting for a slot, in the order they came due
    private readonly List<WheelNode> _held = []; // due within the pre-claim window but not claimable early
    private readonly HashSet<string> _unknownWorkflows = new(StringComparer.Ordinal);

    /// <param name="slots">The process's concurrency slots.</param>
    /// <param name="book">The recurring schedules: their overlap policies and pause state.</param>
    /// <param name="find">Looks a workflow up by name (null when not defined here).</param>
    /// <param name="cancelRunning">Cancels the running runs of a schedule (for <see cref="OverlapPolicy.CancelOther"/>).</param>
    /// <param name="logger">Where an unknown workflow is reported, once.</param>
    public AdmissionControl(ConcurrencySlots slots, ScheduleBook book, Func<string, WorkflowDescriptor?> find, Action<string> cancelRunning, ILogger logger)
    {
        _slots = slots;
        _book = book;
        _find = find;
        _cancelRunning = cancelRunning;
        _logger = logger;
    }

    /// <summary>Runs admitted by the last <see cref="AdmitDue"/>, in due order, each with its slot reserved.</summary>
    public List<Claim> ToClaim { get; } = [];

    /// <summary>Occurrences the last <see cref="AdmitDue"/> skipped by their overlap policy (to record as skipped).</summary>
    public List<WheelNode> ToSkip { get; } = [];

    /// <summary>The ids in <see cref="ToSkip"/> dropped from a buffer (rather than skipped on arrival).</summary>
    public List<Guid> Dropped { get; } = [];

    /// <summary>Occurrences of schedules deleted meanwhile, to delete.</summary>
    public List<WheelNode> ToWithdraw { get; } = [];

    /// <summary>True while due runs wait for a concurrency slot.</summary>
    public bool HasWaiting => _waiting.Count > 0;

    /// <summary>Queues a one-time run due already, without a node: admitted at this pass's <see cref="AdmitDue"/>.</summary>
    public void EnqueueDueNow(Guid id, long dueTicks, string workflow)
    {
        _waiting.Enqueue(new Waiting(id, dueTicks, workflow, null));
        _slots.Wanted = true; // until the dispatch admits it: a slot freed meanwhile wakes the loop
    }

    // The loops below run per due run at a due instant. They are compiled optimized from the first call: a loop first
    // run thousands of times would otherwise be recompiled while it runs (on-stack replacement), stalling that
    // instant's runs for several milliseconds.

    /// <summary>
    /// Applies concurrency and overlap policies to the runs waiting for a slot, then to <paramref name="due"/> (the
    /// runs due, or due within the pre-claim window); fills <see cref="ToClaim"/> and <see cref="ToSkip"/> and empties
    /// <paramref name="due"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void AdmitDue(long nowTicks, List<WheelNode> due)
    {
        ToClaim.Clear();
        ToSkip.Clear();
        Dropped.Clear();

        // Slots are counted here and reserved with one atomic add: handlers ending meanwhile only make the count high.
        int active = _slots.Active;
        int reserved = 0;
        while (_waiting.Count > 0 && active + reserved < _slots.Max)
        {
            var waiting = _waiting.Dequeue();
            if (waiting.Node is { } node ? Admit(node) : AdmitDueOneTime(waiting))
            {
                reserved++;
            }
        }

        if (!InDueOrder(due))
        {
            // Catch-up and buffers start in order; runs due at the same instant (two triggers within one tick of the
            // clock) in the order they were made, which their ids keep within a process.
            due.Sort(static (a, b) => a.DueTicks != b.DueTicks ? a.DueTicks.CompareTo(b.DueTicks) : a.Id.CompareTo(b.Id));
        }

        foreach (var node in due)
        {
            if (node.DueTicks > nowTicks && !ClaimableEarly(node))
            {
                _held.Add(node); // admitted at its instant, when what is still running is known
            }
            else if (active + reserved >= _slots.Max)
            {
                _waiting.Enqueue(new Waiting(node.Id, node.DueTicks, node.Workflow, node));
            }
            else if (Admit(node))
            {
                reserved++;
            }
        }

        _slots.Take(reserved);
        due.Clear();
        _slots.Wanted = _waiting.Count > 0;
    }

    /// <summary>Moves held runs whose instant has come to <paramref name="due"/>.</summary>
    public void ReleaseHeld(long nowTicks, List<WheelNode> due)
    {
        for (int i = _held.Count - 1; i >= 0; i--)
        {
            if (_held[i].DueTicks <= nowTicks)
            {
                due.Add(_held[i]);
                _held.RemoveAt(i);
            }
        }
    }

    /// <summary>The earliest instant of a held run, or <see cref="long.MaxValue"/>.</summary>
    public long NextHeldTicks()
    {
        long next = long.MaxValue;
        foreach (var node in _held)
        {
            next = Math.Min(next, node.DueTicks);
        }

        return next;
    }

    /// <summary>
    /// True when a run due within the pre-claim window may be claimed before its instant: its admission does not depend
    /// on what is still running then (a one-time run, or an occurrence whose overlap policy is AllowAll).
    /// </summary>
    public bool ClaimableEarly(WheelNode node) =>
        node.Schedule is not { } schedule || OverlapOf(schedule, node.Overlap) == OverlapPolicy.AllowAll;

    /// <summary>Takes a slot (and the schedule's) for a run claimed without admission (a store that broke claim order).</summary>
    public void Reserve(string? schedule)
    {
        _slots.Take();
        if (schedule is not null)
        {
            SlotsOf(schedule).Active++;
        }
    }

    /// <summary>Gives back the concurrency slot (and schedule slot) that admission reserved for a run that did not start.</summary>
    public void Unreserve(string? schedule)
    {
        _slots.GiveBack();
        if (schedule is not null && _schedules.TryGetValue(schedule, out var state))
        {
            state.Active--;
        }
    }

    /// <summary>
    /// A run of <paramref name="schedule"/> admitted here could not be claimed because a run of its schedule runs on
    /// another instance: its slots are given back, and the occurrences buffered behind it here are moved to
    /// <paramref name="released"/> (they wait in the store, as it does, and the feed offers them again).
    /// </summary>
    public void BusyElsewhere(string schedule, List<WheelNode> released)
    {
        Unreserve(schedule);
        if (_schedules.TryGetValue(schedule, out var state) && state.Active == 0)
        {
            while (state.Buffer.Count > 0)
            {
                released.Add(state.Buffer.Dequeue());
            }
        }
    }

    /// <summary>A schedule's run ended (seen by the loop): its schedule's slot frees, and a buffered occurrence comes due.</summary>
    public void OccurrenceEnded(string schedule, List<WheelNode> due)
    {
        if (_schedules.TryGetValue(schedule, out var state))
        {
            state.Active--;
            if (state.Active == 0 && state.Buffer.Count > 0)
            {
                due.Add(state.Buffer.Dequeue());
            }
        }
    }

    /// <summary>The overlap policy for a run of a schedule: its own, or its schedule's.</summary>
    public OverlapPolicy OverlapOf(string schedule, OverlapPolicy? own) => own ?? _book.OverlapOf(schedule);

    /// <summary>True when a claimed run is to be cancelled by a later run under <see cref="OverlapPolicy.CancelOther"/>.</summary>
    public bool CancelsOther(ScheduledRun run) =>
        run.Kind != RunKind.OneTime && run.ScheduleId is { } schedule && _book.OverlapOf(schedule) == OverlapPolicy.CancelOther;

    private ScheduleSlots SlotsOf(string schedule)
    {
        if (!_schedules.TryGetValue(schedule, out var state))
        {
            _schedules[schedule] = state = new ScheduleSlots();
        }

        return state;
    }

    private static bool InDueOrder(List<WheelNode> nodes)
    {
        for (int i = 1; i < nodes.Count; i++)
        {
            if (nodes[i - 1].DueTicks > nodes[i].DueTicks || (nodes[i - 1].DueTicks == nodes[i].DueTicks && nodes[i - 1].Id.CompareTo(nodes[i].Id) > 0))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Applies the overlap policy to a due node: to claim (true: the caller reserves its concurrency slot), buffer or
    /// skip.
    /// </summary>
    private bool Admit(WheelNode node)
    {
        node.Descriptor = _find(node.Workflow);
        if (node.Descriptor is null)
        {
            // Not defined in this process (another version of the application, during a rolling deployment, may
            // define it): leave the run pending for an instance that can run it. The node stays known, outside the
            // wheel, so the feed does not load it again and again.
            ReportUnknown(node.Workflow);
            return false;
        }

        if (node.Schedule is { } schedule)
        {
            switch (_book.Gate(schedule, node.Kind))
            {
                case ScheduleGate.Parked:
                    _book.Park(schedule, node.Id, node.DueTicks); // paused: stays pending, known, out of the wheel until resumed
                    return false;
                case ScheduleGate.Deleted:
                    ToWithdraw.Add(node);
                    return false;
            }

            var state = SlotsOf(schedule);
            var overlap = OverlapOf(schedule, node.Overlap);
            if (overlap != OverlapPolicy.AllowAll && state.Active > 0)
            {
                switch (overlap)
                {
                    case OverlapPolicy.Skip:
                        ToSkip.Add(node);
                        return false;
                    case OverlapPolicy.BufferOne:
                        if (state.Buffer.Count == 0)
                        {
                            state.Buffer.Enqueue(node);
                        }
                        else
                        {
                            ToSkip.Add(node);
                            Dropped.Add(node.Id);
                        }

                        return false;
                    case OverlapPolicy.BufferAll:
                        state.Buffer.Enqueue(node);
                        return false;
                    case OverlapPolicy.CancelOther:
                        _cancelRunning(schedule);
                        while (state.Buffer.Count > 0)
                        {
                            var bufferedNode = state.Buffer.Dequeue();
                            ToSkip.Add(bufferedNode);
                            Dropped.Add(bufferedNode.Id);
                        }

                        state.Buffer.Enqueue(node);
                        return false;
                }
            }

            state.Active++;
            ToClaim.Add(new Claim(node.Id, node.DueTicks, node.Kind, node.Workflow, node.Descriptor, node, schedule, overlap == OverlapPolicy.AllowAll ? null : overlap));
            return true;
        }

        ToClaim.Add(new Claim(node.Id, node.DueTicks, node.Kind, node.Workflow, node.Descriptor, node, node.Schedule));
        return true;
    }

    /// <summary>
    /// Admits a one-time run filed straight as due (no node: no policy applies to it). False when its workflow is not
    /// defined here: it stays pending in the store, untracked, and the feed loads it like any other run.
    /// </summary>
    private bool AdmitDueOneTime(Waiting run)
    {
        var descriptor = _find(run.Workflow);
        if (descriptor is null)
        {
            ReportUnknown(run.Workflow);
            return false;
        }

        ToClaim.Add(new Claim(run.Id, run.DueTicks, RunKind.OneTime, run.Workflow, descriptor, null));
        return true;
    }

    private void ReportUnknown(string workflow)
    {
        if (_unknownWorkflows.Add(workflow))
        {
            Log.UnknownWorkflow(_logger, workflow);
        }
    }
}
