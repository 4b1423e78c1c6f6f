using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Concurrency;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Engine.Timing;

namespace Durable.Scheduling.Engine;

/// <summary>
/// The engine's inbox: changes the scheduler API made to runs, queued from any thread and applied by the loop at its
/// next pass. A change carries what the loop needs to file the run, not the run itself (while the loop is behind,
/// queued changes should not keep whole run snapshots alive past a garbage collection).
/// </summary>
internal sealed class RunChangeInbox(WakeSignal signal, ConcurrencySlots slots, bool precise, long wheelHorizonTicks, TimeProvider time) : IRunChanges
{
    private readonly BatchQueue<Change> _changes = new();
    private readonly BatchQueue<(Storage.StoredSchedule Schedule, Durable.Scheduling.Schedules.CompiledDefinition? Compiled)> _schedules = new();
    private readonly BatchQueue<(Storage.StoredSchedule Schedule, Durable.Scheduling.Schedules.CompiledDefinition? Compiled)> _created = new(); // woke no one

    private enum ChangeKind
    {
        Added,
        Removed,
    }

    private const int CreatedPerWake = 128;

    /// <summary>True when nothing at all is queued.</summary>
    public bool IsEmpty => _changes.IsEmpty && _schedules.IsEmpty && _created.IsEmpty;

    /// <summary>
    /// True when nothing is queued that the loop was woken for: schedules created to fire after its next regular pass
    /// may wait for that pass (its timer).
    /// </summary>
    public bool IsSettled => _changes.IsEmpty && _schedules.IsEmpty;

    /// <summary>The schedules paused or deleted in this process: what an occurrence claimed before that checks as it starts.</summary>
    public ScheduleHolds Holds { get; } = new(time);

    public void ScheduleChanged(Storage.StoredSchedule schedule, Durable.Scheduling.Schedules.CompiledDefinition? compiled = null)
    {
        Holds.Changed(schedule.Id, schedule.Sequence, schedule.Paused || schedule.Deleted); // at once: the loop applies the rest at its next pass
        _schedules.Enqueue((schedule, compiled));
        signal.Set();
    }

    public void ScheduleCreated(Storage.StoredSchedule schedule, Durable.Scheduling.Schedules.CompiledDefinition compiled, DateTimeOffset now)
    {
        Holds.Changed(schedule.Id, schedule.Sequence, schedule.Paused || schedule.Deleted);

        // As for a run created far ahead: the loop passes at least once a poll, and its next pass applies the new schedule
        // and plans it, a poll or more before a first fire time beyond the wheel's horizon. A paused one has nothing to plan.
        // Woken by every so many all the same, so what it is told (and the objects behind it) goes while still young.
        long first = schedule.Paused ? -1 : compiled.Spec.NextUtc(now.UtcTicks);
        if (first >= 0 && first <= now.UtcTicks + wheelHorizonTicks)
        {
            _schedules.Enqueue((schedule, compiled));
            signal.Set();
            return;
        }

        _created.Enqueue((schedule, compiled));
        if (_created.Count >= CreatedPerWake)
        {
            signal.Set();
        }
    }

    /// <summary>
    /// Applies the schedule changes made in this process (loop only); returns the earliest instant at which one of them
    /// needs the planner (its next fire time; now, for one resumed or deleted with occurrences held), or
    /// <see cref="long.MaxValue"/>.
    /// </summary>
    public long ApplySchedules(ScheduleBook book, long nowTicks)
    {
        long earliest = long.MaxValue;
        foreach (var (schedule, compiled) in _created.TakeAll())
        {
            earliest = Math.Min(earliest, book.Apply(schedule, fromStore: false, nowTicks, compiled));
        }

        // After the creations: a later change of one of them is applied over it (an earlier one would be refused by its sequence).
        foreach (var (schedule, compiled) in _schedules.TakeAll())
        {
            earliest = Math.Min(earliest, book.Apply(schedule, fromStore: false, nowTicks, compiled));
        }

        return earliest;
    }

    public void Added(ScheduledRun run)
    {
        if (run.Status == RunStatus.Pending)
        {
            Post(new Change(ChangeKind.Added, run.Id, run.DueTicks, run.WorkflowName, run.Kind, run.ScheduleId, run.Overlap));
        }
        else
        {
            Removed(run.Id); // no longer pending: whatever the loop holds for it is stale
        }
    }

    public void Created(ScheduledRun run, DateTimeOffset now)
    {
        if (run.DueTicks <= now.UtcTicks + wheelHorizonTicks)
        {
            Added(run);
        }
    }

    public void Removed(Guid id) => Post(new Change(ChangeKind.Removed, id, 0, null, default, null, null));

    /// <summary>Applies the queued changes (loop only): files, re-files or drops runs; a one-time run due already goes straight to admission.</summary>
    public void Apply(long nowTicks, TrackedRuns tracked, AdmissionControl admission)
    {
        long horizon = nowTicks + wheelHorizonTicks;
        foreach (var change in _changes.TakeAll())
        {
            tracked.Remove(change.Id);
            if (change.Kind != ChangeKind.Added)
            {
                continue;
            }

            if (change.DueTicks <= nowTicks && change.RunKind == RunKind.OneTime)
            {
                // Due already: straight to the queue of due runs (claimed in this pass if a slot is free), as a struct,
                // without a node, the wheel or the known set. The feed loads no runs while runs wait, so it is never
                // loaded twice (were it, the second claim would simply fail).
                admission.EnqueueDueNow(change.Id, change.DueTicks, change.Workflow!);
            }
            else if (change.DueTicks <= horizon)
            {
                tracked.Track(change.Id, change.DueTicks, change.Workflow!, change.RunKind, change.Schedule, change.Overlap);
            }
        }
    }

    private void Post(Change change)
    {
        _changes.Enqueue(change);

        // While runs wait for a concurrency slot nothing new could start: the loop reads the inbox when it next wakes
        // (a slot freed, or at most a millisecond later), with whatever else came meanwhile.
        if (!precise || !slots.Wanted)
        {
            signal.Set();
        }
    }

    private readonly record struct Change(ChangeKind Kind, Guid Id, long DueTicks, string? Workflow, RunKind RunKind, string? Schedule, OverlapPolicy? Overlap);
}
