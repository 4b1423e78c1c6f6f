namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// The in-memory store's schedules: a table by id, the change sequence, counters. Counters are fields of the entry, so
/// counting an outcome allocates nothing; a <see cref="StoredSchedule"/> is built when one is read. Not thread-safe:
/// the store calls it under its lock.
/// </summary>
internal sealed class InMemorySchedules
{
    private readonly SortedDictionary<string, Entry> _byId = new(StringComparer.Ordinal);
    private long _sequence;

    public bool Create(StoredSchedule schedule)
    {
        if (_byId.TryGetValue(schedule.Id, out var existing) && !existing.Stored.Deleted)
        {
            return false;
        }

        _byId[schedule.Id] = new Entry(schedule with { Version = 1, Sequence = ++_sequence, Deleted = false, Metadata = Copy(schedule.Metadata) }, schedule.RemainingRuns);
        return true;
    }

    public StoredSchedule? Get(string id) => _byId.TryGetValue(id, out var e) && !e.Stored.Deleted ? e.Snapshot() : null;

    public StoredSchedulePage List(ScheduleQuery query)
    {
        var items = new List<StoredSchedule>(Math.Min(query.PageSize, 1024));
        foreach (var (id, entry) in _byId)
        {
            var s = entry.Stored;
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

            items.Add(entry.Snapshot());
        }

        return new StoredSchedulePage(items, null);
    }

    public IReadOnlyList<StoredSchedule> ChangesAfter(long sequence, int limit) =>
        [.. _byId.Values.Where(e => e.Stored.Sequence > sequence).OrderBy(e => e.Stored.Sequence).Take(limit).Select(e => e.Snapshot())];

    public bool Update(StoredSchedule schedule, long expectedVersion, bool setRemaining)
    {
        if (!_byId.TryGetValue(schedule.Id, out var entry) || entry.Stored.Deleted || entry.Stored.Version != expectedVersion)
        {
            return false;
        }

        entry.Stored = entry.Stored with
        {
            WorkflowName = schedule.WorkflowName,
            Definition = schedule.Definition,
            Metadata = Copy(schedule.Metadata),
            Paused = schedule.Paused,
            Note = schedule.Note,
            CodeDefined = schedule.CodeDefined,
            UpdatedAt = schedule.UpdatedAt,
            SpecSince = schedule.SpecSince,
            Version = expectedVersion + 1,
            Sequence = ++_sequence,
        };
        if (setRemaining)
        {
            entry.Remaining = schedule.RemainingRuns;
        }

        return true;
    }

    public bool Delete(string id, DateTimeOffset at)
    {
        if (!_byId.TryGetValue(id, out var entry) || entry.Stored.Deleted)
        {
            return false;
        }

        entry.Stored = entry.Stored with { Deleted = true, UpdatedAt = at, Version = entry.Stored.Version + 1, Sequence = ++_sequence };
        return true;
    }

    public void AddCounts(string id, ScheduleCounters delta, long usedRuns)
    {
        if (_byId.TryGetValue(id, out var entry) && !entry.Stored.Deleted)
        {
            entry.Runs += delta.Runs;
            entry.Succeeded += delta.Succeeded;
            entry.Failed += delta.Failed;
            entry.Missed += delta.Missed;
            entry.Skipped += delta.Skipped;
            entry.Dropped += delta.Dropped;
            if (entry.Remaining is { } left)
            {
                entry.Remaining = Math.Max(0, left - usedRuns);
            }
        }
    }

    /// <summary>Adds a completion that counted to its schedule's counters.</summary>
    public void CountCompletion(string scheduleId, RunStatus status)
    {
        if (status is RunStatus.Succeeded or RunStatus.Failed or RunStatus.Cancelled && _byId.TryGetValue(scheduleId, out var entry) && !entry.Stored.Deleted)
        {
            if (status == RunStatus.Succeeded)
            {
                entry.Succeeded++;
            }
            else
            {
                entry.Failed++;
            }
        }
    }

    public void PurgeDeleted(long beforeTicks)
    {
        // The entry holding the highest sequence stays, so sequences never go back.
        foreach (var id in _byId.Values.Where(e => e.Stored.Deleted && e.Stored.UpdatedAt.UtcTicks < beforeTicks && e.Stored.Sequence < _sequence).Select(e => e.Stored.Id).ToList())
        {
            _byId.Remove(id);
        }
    }

    private static IReadOnlyDictionary<string, string> Copy(IReadOnlyDictionary<string, string> metadata) =>
        metadata.Count == 0 ? ScheduledRun.EmptyMetadata : new Dictionary<string, string>(metadata, StringComparer.Ordinal);

    /// <summary>One schedule: what was written, and the counters kept beside it.</summary>
    private sealed class Entry(StoredSchedule stored, long? remaining)
    {
        public StoredSchedule Stored { get; set; } = stored;

        public long? Remaining { get; set; } = remaining;

        public long Runs { get; set; }

        public long Succeeded { get; set; }

        public long Failed { get; set; }

        public long Missed { get; set; }

        public long Skipped { get; set; }

        public long Dropped { get; set; }

        public StoredSchedule Snapshot() => Stored with
        {
            RemainingRuns = Remaining,
            Counters = Runs == 0 && Succeeded == 0 && Failed == 0 && Missed == 0 && Skipped == 0 && Dropped == 0
                ? ScheduleCounters.Zero
                : new ScheduleCounters { Runs = Runs, Succeeded = Succeeded, Failed = Failed, Missed = Missed, Skipped = Skipped, Dropped = Dropped },
        };
    }
}
