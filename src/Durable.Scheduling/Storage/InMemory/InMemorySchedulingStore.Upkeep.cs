using System.Runtime.InteropServices;

namespace Durable.Scheduling.Storage.InMemory;

// Upkeep: how a run's parts stay consistent as it changes: removal from every table and index, status counts, the
// metadata and due indexes, rare parts, workflow and schedule names as indexes.
public sealed partial class InMemorySchedulingStore
{
    private void Remove(Guid id, in Slot slot)
    {
        _order.Remove(id, slot);
        _runs.Remove(id);
        _leases.Remove(id);
        Extra? extra = null;
        if (slot.HasExtra)
        {
            _extras.Remove(id, out extra);
            UnindexMetadata(id, slot.Scheduled, extra?.Metadata);
        }

        if (extra?.CallerKey is { } key)
        {
            _callerKeys.Remove((slot.Workflow, key));
        }
        else if (slot.Kind is RunKind.Occurrence or RunKind.Backfill)
        {
            _occurrenceKeys.Remove((slot.Schedule > 0 ? slot.Schedule - 1 : slot.Workflow, slot.Scheduled));
        }
    }

    /// <summary>Sets a run's status and keeps its chunk's counts.</summary>
    private void SetStatus(Guid id, ref Slot slot, RunStatus status)
    {
        var from = slot.Status;
        slot.Status = status;
        _order.StatusChanged(id, ref slot, from);
    }

    private void IndexMetadata(Guid id, long scheduled, IReadOnlyDictionary<string, string>? metadata)
    {
        foreach (var (key, value) in metadata ?? ScheduledRun.EmptyMetadata)
        {
            ref var runs = ref CollectionsMarshal.GetValueRefOrAddDefault(_byMetadata, (key, value), out _);
            (runs ??= new RunChunks()).Add(new RunKey(scheduled, id));
        }
    }

    private void UnindexMetadata(Guid id, long scheduled, IReadOnlyDictionary<string, string>? metadata)
    {
        foreach (var (key, value) in metadata ?? ScheduledRun.EmptyMetadata)
        {
            if (_byMetadata.TryGetValue((key, value), out var runs) && runs.Remove(new RunKey(scheduled, id)) && runs.Count == 0)
            {
                _byMetadata.Remove((key, value));
            }
        }
    }

    /// <summary>
    /// Files a pending run for <see cref="GetDueAsync"/>: a run due at its scheduled instant (most runs) is found in the
    /// list order, which holds it already; only a run due at another instant needs an entry of its own.
    /// </summary>
    private void AddDue(in Slot slot, Guid id)
    {
        if (slot.Due != slot.Scheduled)
        {
            _dueApart.Add(new RunKey(slot.Due, id));
        }
    }

    /// <summary>Records why a run's last attempt failed (null clears it); the reason lives with its rare parts.</summary>
    private void SetError(Guid id, ref Slot slot, RunError? error)
    {
        if (slot.HasExtra)
        {
            _extras[id].Error = error;
        }
        else if (error is not null)
        {
            _extras[id] = new Extra { Error = error };
            slot.HasExtra = true;
        }
    }

    private Extra? ExtraOf(Guid id, in Slot slot) => slot.HasExtra ? _extras[id] : null;

    private int WorkflowId(string name)
    {
        // Runs come in runs of one workflow, usually with the same string instance: skip hashing it again.
        if (ReferenceEquals(name, _lastWorkflowName))
        {
            return _lastWorkflowId;
        }

        _lastWorkflowId = WorkflowIdOf(name);
        _lastWorkflowName = name;
        return _lastWorkflowId;
    }

    private int WorkflowIdOf(string name)
    {
        ref int id = ref CollectionsMarshal.GetValueRefOrAddDefault(_workflowIds, name, out bool exists);
        if (!exists)
        {
            id = _workflowNames.Count;
            _workflowNames.Add(name);
        }

        return id;
    }

    /// <summary>The run's schedule id when it is not the one implied (an occurrence's workflow), else null.</summary>
    private static string? OwnSchedule(ScheduledRun run) =>
        run.ScheduleId is { } id && (run.Kind != RunKind.Occurrence || id != run.WorkflowName) ? id : null;
}
