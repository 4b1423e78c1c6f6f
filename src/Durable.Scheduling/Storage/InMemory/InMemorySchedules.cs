namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// The in-memory store's schedules: a table by id, the change sequence, counters. Not thread-safe: the store calls it
/// under its lock.
/// </summary>
internal sealed class InMemorySchedules
{
    private readonly SortedDictionary<string, StoredSchedule> _byId = new(StringComparer.Ordinal);
    private long _sequence;

    public bool Create(StoredSchedule schedule)
    {
        if (_byId.TryGetValue(schedule.Id, out var existing) && !existing.Deleted)
        {
            return false;
        }

        _byId[schedule.Id] = schedule with { Version = 1, Sequence = ++_sequence, Deleted = false, Metadata = Copy(schedule.Metadata) };
        return true;
    }

    public StoredSchedule? Get(string id) => _byId.TryGetValue(id, out var s) && !s.Deleted ? s : null;

    public StoredSchedulePage List(ScheduleQuery query)
    {
        var items = new List<StoredSchedule>(Math.Min(query.PageSize, 1024));
        foreach (var (id, s) in _byId)
        {
            if (query.ContinuationToken is { } after && string.CompareOrdinal(id, after) <= 0)
            {
                continue;
            }

            if (s.Deleted || (query.Paused is { } paused && s.Paused != paused) ||
                (query.WorkflowName is { } workflow && s.WorkflowName != workflow) ||
                (query.IdPrefix is { } prefix && !id.StartsWith(prefix, StringComparison.Ordinal)) ||
                (query.Metadata is { Count: > 0 } wanted && wanted.Any(p => !s.Metadata.TryGetValue(p.Key, out var v) || v != p.Value)))
            {
                continue;
            }

            if (items.Count == query.PageSize)
            {
                return new StoredSchedulePage(items, items[^1].Id);
            }

            items.Add(s);
        }

        return new StoredSchedulePage(items, null);
    }

    public IReadOnlyList<StoredSchedule> ChangesAfter(long sequence, int limit) =>
        [.. _byId.Values.Where(s => s.Sequence > sequence).OrderBy(s => s.Sequence).Take(limit)];

    public bool Update(StoredSchedule schedule, long expectedVersion, bool setRemaining)
    {
        if (!_byId.TryGetValue(schedule.Id, out var current) || current.Deleted || current.Version != expectedVersion)
        {
            return false;
        }

        _byId[schedule.Id] = current with
        {
            WorkflowName = schedule.WorkflowName,
            Definition = schedule.Definition,
            Metadata = Copy(schedule.Metadata),
            Paused = schedule.Paused,
            Note = schedule.Note,
            CodeDefined = schedule.CodeDefined,
            UpdatedAt = schedule.UpdatedAt,
            SpecSince = schedule.SpecSince,
            RemainingRuns = setRemaining ? schedule.RemainingRuns : current.RemainingRuns,
            Version = expectedVersion + 1,
            Sequence = ++_sequence,
        };
        return true;
    }

    public bool Delete(string id, DateTimeOffset at)
    {
        if (!_byId.TryGetValue(id, out var current) || current.Deleted)
        {
            return false;
        }

        _byId[id] = current with { Deleted = true, UpdatedAt = at, Sequence = ++_sequence };
        return true;
    }

    public void AddCounts(string id, ScheduleCounters delta, long usedRuns)
    {
        if (_byId.TryGetValue(id, out var current) && !current.Deleted)
        {
            _byId[id] = current with
            {
                Counters = current.Counters.Add(delta),
                RemainingRuns = current.RemainingRuns is { } left ? Math.Max(0, left - usedRuns) : null,
            };
        }
    }

    /// <summary>Adds the completions that counted to their schedules' counters.</summary>
    public void CountCompletion(string scheduleId, RunStatus status)
    {
        if (status is RunStatus.Succeeded or RunStatus.Failed or RunStatus.Cancelled)
        {
            AddCounts(scheduleId, status == RunStatus.Succeeded ? s_succeeded : s_failed, 0);
        }
    }

    public void PurgeDeleted(long beforeTicks)
    {
        foreach (var id in _byId.Values.Where(s => s.Deleted && s.UpdatedAt.UtcTicks < beforeTicks).Select(s => s.Id).ToList())
        {
            _byId.Remove(id);
        }
    }

    private static readonly ScheduleCounters s_succeeded = new() { Succeeded = 1 };
    private static readonly ScheduleCounters s_failed = new() { Failed = 1 };

    private static IReadOnlyDictionary<string, string> Copy(IReadOnlyDictionary<string, string> metadata) =>
        metadata.Count == 0 ? ScheduledRun.EmptyMetadata : new Dictionary<string, string>(metadata, StringComparer.Ordinal);
}
