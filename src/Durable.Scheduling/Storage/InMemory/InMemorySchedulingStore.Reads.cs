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
        int size = Math.Clamp(query.PageSize, 1, 1000);
        lock (_lock)
        {
            var found = Select(query, new RunKey(afterTicks, afterId), size + 1, withRunning: true);
            var items = new List<ScheduledRun>(Math.Min(found.Count, size));
            for (int i = 0; i < found.Count && i < size; i++)
            {
                items.Add(ToRun(found[i], _runs[found[i]], query.IncludeInput));
            }

            string? token = found.Count > size ? ContinuationTokens.Encode(items[^1].ScheduledTime.UtcTicks, items[^1].Id) : null;
            return new(new RunPage(items, token));
        }
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-run loops on the dispatch path (see Engine/Claiming)
    public ValueTask<DuePage> GetDueAsync(DateTimeOffset until, int limit, string? continuation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        (long afterDue, Guid afterId) = ContinuationTokens.Decode(continuation);
        var after = new RunKey(afterDue, afterId);
        long untilTicks = until.UtcTicks;
        DueRun[] page;
        lock (_lock)
        {
            // Found into a list kept for reads (under the lock), then copied at its size: the loop reads every run due
            // within its horizon at each feed, and a list grown to its size per read would allocate about twice as much.
            var items = _dueScratch;
            items.Clear(); // also after a read that failed half-way
            AddDueAtScheduled(items, after, untilTicks, limit);
            if (_dueApart.Count > 0 && AddDueApart(items, after, untilTicks, limit, tidy: continuation is null))
            {
                // Two ordered streams: the first `limit` of their union, in due order.
                items.Sort(static (x, y) => new RunKey(x.DueTime.UtcTicks, x.Id).CompareTo(new RunKey(y.DueTime.UtcTicks, y.Id)));
                if (items.Count > limit)
                {
                    items.RemoveRange(limit, items.Count - limit);
                }
            }

            page = items.Count == 0 ? [] : items.ToArray();
            items.Clear();
            if (items.Capacity > KeptDueRoom && items.Capacity > 4 * page.Length)
            {
                // A read far larger than those that follow it is not kept for the life of the store; reads of a
                // steady size keep their room (cutting it at each would allocate it again at each).
                items.Capacity = Math.Max(KeptDueRoom, 2 * page.Length);
            }
        }

        string? token = page.Length < limit ? null : ContinuationTokens.Encode(page[^1].DueTime.UtcTicks, page[^1].Id);
        return new(new DuePage(page, token));
    }

    /// <summary>The room for due runs <see cref="_dueScratch"/> always keeps between reads.</summary>
    private const int KeptDueRoom = 4096;

    /// <summary>Where <see cref="GetDueAsync"/> collects a page (only under the lock).</summary>
    private readonly List<DueRun> _dueScratch = [];

    /// <summary>Pending runs due at their scheduled instant, after <paramref name="after"/>: read from the list order,
    /// skipping chunks without a pending run.</summary>
    private void AddDueAtScheduled(List<DueRun> items, RunKey after, long untilTicks, int limit)
    {
        var chunks = _order.Ordered;
        for (int c = _order.Locate(after); c < chunks.Count && items.Count < limit; c++)
        {
            var chunk = chunks[c];
            if (chunk.Low.Scheduled > untilTicks)
            {
                return;
            }

            if (chunk.Statuses![(int)RunStatus.Pending] == 0)
            {
                continue;
            }

            var entries = chunk.Entries;
            var tags = chunk.Tags;
            for (int i = chunk.LowerBound(after); i < chunk.Count && items.Count < limit; i++)
            {
                var key = entries[i];
                if (key.Scheduled > untilTicks)
                {
                    return;
                }

                if (RunOrder.StatusOf(tags[i]) == (int)RunStatus.Pending && key != after)
                {
                    ref readonly var slot = ref _runs.Find(key.Id);
                    if (slot.Due == key.Scheduled)
                    {
                        items.Add(new DueRun(key.Id, _workflowNames[slot.Workflow], slot.Kind, new DateTimeOffset(key.Scheduled, TimeSpan.Zero), ScheduleOf(slot), slot.Overlap));
                    }
                }
            }
        }
    }

    /// <summary>Pending runs due at another instant than their scheduled one, after <paramref name="after"/>; on a pass
    /// from the start (<paramref name="tidy"/>) it drops the entries of runs since claimed, deleted or moved.</summary>
    /// <returns>True when it added any.</returns>
    private bool AddDueApart(List<DueRun> items, RunKey after, long untilTicks, int limit, bool tidy)
    {
        int added = 0;
        var last = after;
        var chunks = _dueApart.Ordered;
        List<RunChunk>? emptied = null;
        for (int c = _dueApart.Locate(after); c < chunks.Count && added < limit; c++)
        {
            var chunk = chunks[c];
            if (chunk.Low.Scheduled > untilTicks)
            {
                break;
            }

            if (tidy && chunk.Count > 0 && _dueApart.RemoveWhere(chunk, _staleApart))
            {
                (emptied ??= []).Add(chunk);
                continue;
            }

            var entries = chunk.Entries;
            for (int i = chunk.LowerBound(after); i < chunk.Count && added < limit; i++)
            {
                var key = entries[i];
                if (key.Scheduled > untilTicks)
                {
                    c = chunks.Count; // past the horizon: done
                    break;
                }

                // A run filed twice (handed back while its entry was still there) is taken once.
                if (key != last && !_staleApart(key))
                {
                    ref readonly var slot = ref _runs.Find(key.Id);
                    items.Add(new DueRun(key.Id, _workflowNames[slot.Workflow], slot.Kind, new DateTimeOffset(key.Scheduled, TimeSpan.Zero), ScheduleOf(slot), slot.Overlap));
                    last = key;
                    added++;
                }
            }
        }

        foreach (var chunk in emptied ?? [])
        {
            _dueApart.DropIfEmpty(chunk);
        }

        return added > 0;
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

    /// <summary>
    /// The ids of up to <paramref name="limit"/> runs matching <paramref name="query"/>, after <paramref name="after"/>
    /// in list order. It walks the runs of the query's rarest metadata pair when it names one, else every run in list
    /// order from the query's first instant, skipping the chunks whose summary rules out a match.
    /// </summary>
    private List<Guid> Select(RunQuery query, RunKey after, int limit, bool withRunning)
    {
        var found = new List<Guid>(Math.Min(limit, 1024));
        RunChunks source = _order;
        foreach (var pair in query.Metadata ?? ScheduledRun.EmptyMetadata)
        {
            if (!_byMetadata.TryGetValue((pair.Key, pair.Value), out var runs))
            {
                return found; // no run has this pair
            }

            source = ReferenceEquals(source, _order) || runs.Count < source.Count ? runs : source;
        }

        int workflowIndex = -1, scheduleIndex = -1; // -1: not asked for
        if ((query.WorkflowName is { } workflow && !_workflowIds.TryGetValue(workflow, out workflowIndex)) ||
            (query.ScheduleId is { } schedule && !_workflowIds.TryGetValue(schedule, out scheduleIndex)))
        {
            return found; // no run ever had this workflow or schedule
        }

        ulong workflows = workflowIndex >= 0 ? RunOrder.Bit(workflowIndex) : 0, schedules = scheduleIndex >= 0 ? RunOrder.Bit(scheduleIndex) : 0;
        var (excluded, excludedBits) = Excluded(query.ExcludedWorkflowNames);
        int kinds = query.Kinds is { Count: > 0 } wantedKinds ? wantedKinds.Aggregate(0, (mask, kind) => mask | (1 << (int)kind)) : -1;
        int statuses = query.Statuses is { Count: > 0 } wantedStatuses ? wantedStatuses.Aggregate(0, (mask, status) => mask | (1 << (int)status)) : -1;
        var from = query.ScheduledFrom is { } start ? new RunKey(start.UtcTicks, Guid.Empty) : RunKey.Lowest;
        long end = query.ScheduledTo?.UtcTicks ?? long.MaxValue;
        var seek = from.CompareTo(after) > 0 ? from : after;
        var chunks = source.Ordered;
        for (int c = source.Locate(seek); c < chunks.Count; c++)
        {
            var chunk = chunks[c];
            if (chunk.Low.Scheduled >= end)
            {
                break;
            }

            bool tagged = chunk.Statuses is not null; // the main order's chunks: summaries and tags are kept
            if (chunk.Count == 0 || (tagged &&
                ((workflows != 0 && (chunk.Workflows & workflows) == 0) || (schedules != 0 && (chunk.Schedules & schedules) == 0) ||
                (excluded is not null && (chunk.Workflows & ~excludedBits) == 0) ||
                (chunk.Kinds & kinds) == 0 || !Holds(chunk.Statuses!, query.Statuses))))
            {
                continue;
            }

            var entries = chunk.Entries;
            var tags = chunk.Tags;
            for (int i = chunk.LowerBound(seek); i < chunk.Count; i++)
            {
                var key = entries[i];
                if (key.Scheduled >= end)
                {
                    return found;
                }

                if (tagged && tags[i] is var tag && ((workflowIndex >= 0 && RunOrder.WorkflowOf(tag) != workflowIndex) ||
                    (excluded is not null && excluded[RunOrder.WorkflowOf(tag)]) ||
                    (statuses & (1 << RunOrder.StatusOf(tag))) == 0 || (kinds & (1 << RunOrder.KindOf(tag))) == 0))
                {
                    continue;
                }

                ref readonly var slot = ref _runs.Find(key.Id);
                if (key.CompareTo(after) > 0 && (withRunning || slot.Status != RunStatus.Running) && Matches(key.Id, slot, query, excluded))
                {
                    found.Add(key.Id);
                    if (found.Count == limit)
                    {
                        return found;
                    }
                }
            }
        }

        return found;
    }

    private static bool Holds(int[] counts, IReadOnlyCollection<RunStatus>? statuses)
    {
        if (statuses is not { Count: > 0 })
        {
            return true;
        }

        foreach (var status in statuses)
        {
            if (counts[(int)status] > 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The query's excluded workflows as a table by name index (null when none are), and the summary bits of which every
    /// known name is excluded: a chunk whose runs' workflows all fall on those bits holds no run the query lists.
    /// Made once per read, so a list that excludes many workflows (the hourly count of runs no workflow here defines
    /// excludes them all) costs one lookup per run, and skips whole chunks of defined workflows.
    /// </summary>
    private (bool[]? Excluded, ulong Bits) Excluded(IReadOnlyCollection<string>? names)
    {
        if (names is not { Count: > 0 })
        {
            return (null, 0);
        }

        var excluded = new bool[_workflowNames.Count];
        foreach (string name in names)
        {
            if (name is not null && _workflowIds.TryGetValue(name, out int index))
            {
                excluded[index] = true;
            }
        }

        ulong bits = ulong.MaxValue;
        for (int i = 0; i < excluded.Length; i++)
        {
            if (!excluded[i])
            {
                bits &= ~RunOrder.Bit(i);
            }
        }

        return (excluded, bits);
    }

    private bool Matches(Guid id, in Slot slot, RunQuery query, bool[]? excluded)
    {
        if (query.WorkflowName is not null && _workflowNames[slot.Workflow] != query.WorkflowName)
        {
            return false;
        }

        if (excluded is not null && excluded[slot.Workflow])
        {
            return false;
        }

        if (query.ScheduleId is { } scheduleId && ImpliedScheduleOf(slot) != scheduleId)
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

    /// <summary>The run's schedule, implied or not (as <see cref="ScheduledRun.ScheduleId"/> reads it), or null for a one-time run.</summary>
    private string? ImpliedScheduleOf(in Slot slot) => ScheduleOf(slot) ?? (slot.Kind == RunKind.Occurrence ? _workflowNames[slot.Workflow] : null);
}
