using System.Text.Json;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Schedules;

/// <summary>What admission does with a due run of a schedule, beyond its overlap policy.</summary>
internal enum ScheduleGate
{
    /// <summary>Admit it.</summary>
    Open,

    /// <summary>An occurrence of a paused schedule: keep it pending until the schedule is resumed.</summary>
    Parked,

    /// <summary>An occurrence of a deleted schedule (created by a pass that raced with the delete): withdraw it.</summary>
    Deleted,
}

/// <summary>
/// The recurring schedules the loop knows: read from the store's change sequence every feed, and at once from changes
/// this process made (through the inbox). Owned by the loop; not thread-safe.
/// </summary>
internal sealed class ScheduleBook(ISchedulingStore store, Func<string, WorkflowDescriptor?> find, IReadOnlySet<string> codeDefinedHere, ILogger logger)
{
    private const int ChangesPerRead = 1000;
    private readonly Dictionary<string, PlannedSchedule> _byId = new(StringComparer.Ordinal);
    private readonly HashSet<string> _deleted = new(StringComparer.Ordinal);
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);
    private readonly List<(string Schedule, Guid Id, long Ticks)> _unparked = [];
    private readonly Dictionary<string, long> _retiredSequences = new(StringComparer.Ordinal); // of ids not in _byId (deleted, unreadable)
    private readonly List<PlannedSchedule> _changed = [];
    private long _sequence;

    public IEnumerable<PlannedSchedule> All => _byId.Values;

    public int Count => _byId.Count;

    public PlannedSchedule? Find(string id) => _byId.GetValueOrDefault(id);

    /// <summary>
    /// The horizon (UTC ticks) of the planner's last pass that succeeded: every schedule set aside
    /// (<see cref="PlannedSchedule.Quiet"/>) has all its occurrences up to it. Set by the planner; never moves back.
    /// </summary>
    public long QuietUntil { get; set; }

    /// <summary>The schedules applied since the last call, as they now are (the planner plans them at its next pass). The caller clears the list.</summary>
    public List<PlannedSchedule> TakeChanged() => _changed;

    public OverlapPolicy OverlapOf(string schedule) => _byId.TryGetValue(schedule, out var s) ? s.Overlap : OverlapPolicy.AllowAll;

    public ScheduleGate Gate(string schedule, RunKind kind)
    {
        if (kind != RunKind.Occurrence)
        {
            return ScheduleGate.Open; // triggers and backfills run also while paused
        }

        if (_byId.TryGetValue(schedule, out var s))
        {
            return s.Paused ? ScheduleGate.Parked : ScheduleGate.Open;
        }

        return _deleted.Contains(schedule) ? ScheduleGate.Deleted : ScheduleGate.Open;
    }

    public void Park(string schedule, Guid id, long dueTicks) => (_byId[schedule].Parked ??= []).Add((id, dueTicks));

    /// <summary>
    /// Runs parked while their schedule was paused, now resumed or deleted: the loop forgets them (so the feed loads
    /// them again), and the catch-up policy decides about those overdue. The caller clears the list.
    /// </summary>
    public List<(string Schedule, Guid Id, long Ticks)> TakeUnparked() => _unparked;

    /// <summary>Reads every schedule changed since the last read.</summary>
    public async Task RefreshAsync(CancellationToken stop)
    {
        IReadOnlyList<StoredSchedule> changes;
        do
        {
            changes = await store.GetScheduleChangesAsync(_sequence, ChangesPerRead, stop).ConfigureAwait(false);
            foreach (var schedule in changes)
            {
                Apply(schedule, fromStore: true);
            }
        }
        while (changes.Count == ChangesPerRead);
    }

    /// <summary>Takes in one schedule's new state (from the store, or from a change made in this process).</summary>
    /// <returns>When the planner next needs to see this schedule (UTC ticks), or <see cref="long.MaxValue"/>.</returns>
    /// <param name="stored">The state.</param>
    /// <param name="fromStore">True when read from the store's change sequence (false: told by this process).</param>
    /// <param name="nowTicks">Now (UTC ticks).</param>
    /// <param name="compiled">Its definition already read and compiled by the caller, if so (used only when it is the stored one).</param>
    public long Apply(StoredSchedule stored, bool fromStore, long nowTicks = 0, CompiledDefinition? compiled = null)
    {
        if (fromStore)
        {
            _sequence = Math.Max(_sequence, stored.Sequence); // a local change's sequence may not be every change's up to it
        }

        _byId.TryGetValue(stored.Id, out var previous);
        long known = previous?.Sequence ?? _retiredSequences.GetValueOrDefault(stored.Id);
        if (stored.Sequence < known || (stored.Sequence == known && previous is not null))
        {
            // An older state than one applied already (a local change raced with a read of the store), or the same
            // one again (a change made here, then read from the store): its counters may differ, but the planner reads
            // what it needs of those from the store.
            return long.MaxValue;
        }

        if (stored.Deleted)
        {
            _byId.Remove(stored.Id);
            _deleted.Add(stored.Id);
            _retiredSequences[stored.Id] = stored.Sequence;
            return Unpark(previous, nowTicks);
        }

        long unparkedAt = long.MaxValue;
        if (previous is not null && previous.CreatedTicks != stored.CreatedAt.UtcTicks)
        {
            // Deleted and made again since this process last read it (the delete was not read here, or a later read
            // found only the new one): another schedule under the same id, which continues nothing of the old one's
            // (its watermark, what it held while paused) and starts from when it was made.
            unparkedAt = Unpark(previous, nowTicks);
            previous = null;
        }

        _deleted.Remove(stored.Id);
        var planned = Parse(stored, compiled is not null && compiled.Json == stored.Definition ? compiled : null);
        if (planned is null)
        {
            _byId.Remove(stored.Id);
            _retiredSequences[stored.Id] = stored.Sequence;
            return unparkedAt;
        }

        _retiredSequences.Remove(stored.Id);

        _byId[stored.Id] = planned;
        _changed.Add(planned);
        if (previous is not null)
        {
            planned.ContinueFrom(previous, QuietUntil);
            if (!planned.Paused && planned.Parked is { Count: > 0 })
            {
                _unparked.AddRange(planned.Parked.Select(p => (stored.Id, p.Id, p.Ticks)));
                planned.Parked = null;
                return nowTicks;
            }
        }

        if (planned.Paused || !planned.Runnable)
        {
            return unparkedAt;
        }

        if (previous is { Paused: true })
        {
            // Resumed: the fire times that fell while it was paused are for its catch-up policy, at once (a feed creates
            // them), not at the next poll or fire time.
            return nowTicks;
        }

        return Math.Min(unparkedAt, planned.Spec.NextUtc(nowTicks) is var next and >= 0 ? next : long.MaxValue);
    }

    /// <summary>
    /// Lets go of the runs a schedule that is gone (deleted, or replaced by another made under its id) held while
    /// paused: the feed loads any still pending again (the delete withdrew those it found), and admission withdraws a
    /// deleted schedule's.
    /// </summary>
    /// <returns>Now when there were any (a feed goes at once), else <see cref="long.MaxValue"/>.</returns>
    private long Unpark(PlannedSchedule? gone, long nowTicks)
    {
        if (gone is not { Parked.Count: > 0 })
        {
            return long.MaxValue;
        }

        _unparked.AddRange(gone.Parked.Select(p => (gone.Id, p.Id, p.Ticks)));
        return nowTicks;
    }

    private PlannedSchedule? Parse(StoredSchedule stored, CompiledDefinition? compiled)
    {
        try
        {
            var document = compiled?.Document ?? ScheduleDocument.FromJson(stored.Definition);
            if (!Enum.IsDefined(document.CatchUp) || !Enum.IsDefined(document.Overlap))
            {
                throw new NotSupportedException($"catch-up policy {(int)document.CatchUp} or overlap policy {(int)document.Overlap} is not one this version knows.");
            }

            // A code-defined schedule runs only where its code is (its [Scheduled] attribute may have been removed
            // while the workflow stayed); one made at run time wherever its workflow is defined.
            var workflow = find(stored.WorkflowName);
            bool runnable = workflow is not null && (!stored.CodeDefined || codeDefinedHere.Contains(stored.Id));
            if (!runnable && _reported.Add(stored.Id))
            {
                Log.ScheduleWithoutWorkflow(logger, stored.Id, stored.WorkflowName);
            }

            return new PlannedSchedule
            {
                Id = stored.Id,
                Workflow = workflow?.Name ?? stored.WorkflowName, // the registry's copy: one string for all its schedules
                Spec = compiled?.Spec ?? CompiledSpec.Compile(document.Spec),
                CatchUp = document.CatchUp,
                CatchUpWindow = document.CatchUpWindow,
                Overlap = document.Overlap,
                Input = document.Input is { } input ? input.GetRawText() : null,
                Metadata = stored.Metadata,
                Paused = stored.Paused,
                Limited = stored.RemainingRuns is not null,
                Remaining = stored.RemainingRuns ?? long.MaxValue,
                CodeDefined = stored.CodeDefined,
                FirstSpec = stored.SpecSince == stored.CreatedAt,
                CreatedTicks = stored.CreatedAt.UtcTicks,
                SpecSinceTicks = stored.SpecSince.UtcTicks,
                ChangedTicks = stored.UpdatedAt.UtcTicks,
                Runnable = runnable,
                Sequence = stored.Sequence,
            };
        }
        catch (Exception e) when (e is JsonException or ScheduleSpecException or NotSupportedException)
        {
            // A definition this process cannot read (written by a newer version, or a zone unknown on this machine).
            if (_reported.Add(stored.Id + "\0unreadable"))
            {
                Log.ScheduleUnreadable(logger, e, stored.Id);
            }

            return null;
        }
    }
}
