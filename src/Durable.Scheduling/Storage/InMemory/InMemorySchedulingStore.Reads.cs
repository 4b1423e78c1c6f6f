using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Durable.Scheduling.Storage.InMemory;

// Reads: single runs, lists (filters), due runs and expired leases, and the run snapshots they return.
public sealed partial class InMemorySchedulingStore
{
    /// <inheritdoc />
    public ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(_runs.TryGetValue(id, out var slot) ? ToRun(id, slot) : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        (long afterTicks, Guid afterId) = ContinuationTokens.Decode(query.ContinuationToken);
        var page = new List<(long Scheduled, Guid Id)>();
        lock (_lock)
        {
            foreach (var (id, slot) in _runs)
            {
                if (Matches(id, slot, query) && (slot.Scheduled > afterTicks || (slot.Scheduled == afterTicks && id.CompareTo(afterId) > 0)))
                {
                    page.Add((slot.Scheduled, id));
                }
            }

            page.Sort();
            int size = Math.Clamp(query.PageSize, 1, 1000);
            var items = page.Take(size).Select(p => ToRun(p.Id, _runs[p.Id], query.IncludeInput)).ToList();
            string? token = page.Count > size ? ContinuationTokens.Encode(page[size - 1].Scheduled, page[size - 1].Id) : null;
            return new(new RunPage(items, token));
        }
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-run loops on the dispatch path (see Engine/Claiming)
    public ValueTask<DuePage> GetDueAsync(DateTimeOffset until, int limit, string? continuation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        (long afterDue, Guid afterId) = ContinuationTokens.Decode(continuation);
        long untilTicks = until.UtcTicks;
        var items = new List<DueRun>(Math.Min(limit, 1024));
        lock (_lock)
        {
            long firstBucket = afterDue == long.MinValue ? long.MinValue : afterDue / BucketTicks;
            List<long>? emptied = null;
            foreach (var (key, bucket) in _due)
            {
                if (key < firstBucket)
                {
                    continue;
                }

                if (key > untilTicks / BucketTicks || items.Count >= limit)
                {
                    break;
                }

                if (continuation is null)
                {
                    // Once per pass over the horizon: drop entries of runs since claimed, deleted or moved.
                    bucket.Compact(_runs);
                    if (bucket.Entries.Count == 0)
                    {
                        (emptied ??= []).Add(key);
                        continue;
                    }
                }

                bucket.EnsureSorted();
                var entries = bucket.Entries;
                int start = entries.BinarySearch((afterDue, afterId));
                start = start < 0 ? ~start : start + 1;
                for (int i = start; i < entries.Count && items.Count < limit; i++)
                {
                    var (due, id) = entries[i];
                    if (due > untilTicks)
                    {
                        break;
                    }

                    if (_runs.TryGetValue(id, out var slot) && slot.Status == RunStatus.Pending && slot.Due == due)
                    {
                        items.Add(new DueRun(id, _workflowNames[slot.Workflow], slot.Kind, new DateTimeOffset(due, TimeSpan.Zero), ScheduleOf(slot), slot.Overlap));
                    }
                }
            }

            foreach (var key in emptied ?? [])
            {
                _due.Remove(key);
                if (_lastBucketKey == key)
                {
                    _lastBucket = null;
                }
            }
        }

        string? token = items.Count < limit ? null : ContinuationTokens.Encode(items[^1].DueTime.UtcTicks, items[^1].Id);
        return new(new DuePage(items, token));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ScheduledRun>> GetExpiredLeasesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var expired = new List<ScheduledRun>();
        lock (_lock)
        {
            foreach (var (id, lease) in _leases)
            {
                if (lease.Expires <= now.UtcTicks)
                {
                    expired.Add(ToRun(id, _runs[id]));
                    if (expired.Count >= limit)
                    {
                        break;
                    }
                }
            }
        }

        return new(expired);
    }

    private bool Matches(Guid id, in Slot slot, RunQuery query)
    {
        if (query.WorkflowName is not null && _workflowNames[slot.Workflow] != query.WorkflowName)
        {
            return false;
        }

        if (query.ExcludedWorkflowNames is { Count: > 0 } excluded && excluded.Contains(_workflowNames[slot.Workflow]))
        {
            return false;
        }

        if (query.ScheduleId is { } scheduleId && (ScheduleOf(slot) ?? (slot.Kind == RunKind.Occurrence ? _workflowNames[slot.Workflow] : null)) != scheduleId)
        {
            return false;
        }

        if (query.Kinds is { Count: > 0 } kinds && !kinds.Contains(slot.Kind))
        {
            return false;
        }

        if (query.Statuses is { Count: > 0 } statuses && !statuses.Contains(slot.Status))
        {
            return false;
        }

        if ((query.ScheduledFrom is { } from && slot.Scheduled < from.UtcTicks) || (query.ScheduledTo is { } to && slot.Scheduled >= to.UtcTicks))
        {
            return false;
        }

        if (query.Metadata is { Count: > 0 } wanted)
        {
            var metadata = ExtraOf(id, slot)?.Metadata;
            foreach (var (key, value) in wanted)
            {
                if (metadata is null || !metadata.TryGetValue(key, out var actual) || actual != value)
                {
                    return false;
                }
            }
        }

        return true;
    }

    private ScheduledRun ToRun(Guid id, in Slot slot, bool withInput = true)
    {
        var run = Snapshot(id, slot, _workflowNames[slot.Workflow], ScheduleOf(slot), ExtraOf(id, slot));
        return withInput || run.Input is null ? run : run with { Input = null };
    }

    /// <summary>A run's snapshot from a copy of its state (needs no lock).</summary>
    private static ScheduledRun Snapshot(Guid id, in Slot slot, string workflow, string? schedule, Extra? extra) =>
        new()
        {
            Id = id,
            WorkflowName = workflow,
            Kind = slot.Kind,
            IdempotencyKey = extra?.CallerKey!, // null: derived from the workflow and the instant or id on first read
            ScheduledTime = new DateTimeOffset(slot.Scheduled, TimeSpan.Zero),
            DueTime = new DateTimeOffset(slot.Due, TimeSpan.Zero),
            Status = slot.Status,
            Attempt = slot.Attempt,
            Input = extra?.Input,
            Metadata = extra?.Metadata ?? ScheduledRun.EmptyMetadata,
            CreatedAt = new DateTimeOffset(slot.Created, TimeSpan.Zero),
            StartedAt = slot.Started > 0 ? new DateTimeOffset(slot.Started, TimeSpan.Zero) : null,
            CompletedAt = slot.Completed > 0 && slot.Status is not (RunStatus.Pending or RunStatus.Running) ? new DateTimeOffset(slot.Completed, TimeSpan.Zero) : null,
            Error = extra?.Error,
            TraceParent = extra?.TraceParent,
            ScheduleId = schedule,
            Overlap = slot.Overlap,
        };

    /// <summary>The run's schedule when not implied by its workflow, or null.</summary>
    private string? ScheduleOf(in Slot slot) => slot.Schedule > 0 ? _workflowNames[slot.Schedule - 1] : null;
}
