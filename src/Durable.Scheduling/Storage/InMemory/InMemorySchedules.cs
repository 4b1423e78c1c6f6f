namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// The in-memory store's schedules: a table by id, the ids in order (for lists), the change sequence, counters.
/// An entry keeps what was written and the counters as fields of its own, so counting an outcome allocates nothing and a
/// schedule costs one object; a <see cref="StoredSchedule"/> is built when one is read. Not thread-safe: the store calls
/// it under its lock.
/// </summary>
/// <remarks>
/// Every change appends its entry to a log in sequence order, so reading the changes since a sequence (which the loop
/// does at every feed) costs a binary search and the changes themselves, not a walk over every schedule. A record
/// left behind by a later change of the same entry is skipped, and dropped when such records outnumber the live ones.
/// </remarks>
internal sealed class InMemorySchedules
{
    /// <summary>An entry's spec watermark when it has none.</summary>
    private const long NoWatermark = long.MinValue;

    /// <summary>An entry's remaining runs when it has no limit.</summary>
    private const long NoLimit = long.MinValue;

    private readonly Dictionary<string, Entry> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly SortedIds _order = new();
    private readonly List<(long Sequence, Entry Entry)> _log = [];
    private long _sequence;

    public InMemorySchedules() => _bySpan = _byId.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>
    /// The watermark of a schedule's spec (see <see cref="WatermarkNames"/>), kept in its entry: there is one only while
    /// that spec is the schedule's current one, so it goes with the entry, and with each change of spec.
    /// </summary>
    public bool TryGetSpecWatermark(ReadOnlySpan<char> id, long specSinceTicks, out long ticks)
    {
        ticks = 0;
        if (Current(id, specSinceTicks) is { SpecWatermark: not NoWatermark } entry)
        {
            ticks = entry.SpecWatermark;
            return true;
        }

        return false;
    }

    /// <summary>Moves a spec's watermark forward; nothing when that spec is not its schedule's current one.</summary>
    public void AdvanceSpecWatermark(ReadOnlySpan<char> id, long specSinceTicks, long ticks)
    {
        if (Current(id, specSinceTicks) is { } entry && ticks > entry.SpecWatermark)
        {
            entry.SpecWatermark = ticks;
        }
    }

    private Entry? Current(ReadOnlySpan<char> id, long specSinceTicks) =>
        _bySpan.TryGetValue(id, out var entry) && !entry.Deleted && entry.SpecSinceTicks == specSinceTicks ? entry : null;

    public bool Create(StoredSchedule schedule)
    {
        if (_byId.TryGetValue(schedule.Id, out var existing))
        {
            if (!existing.Deleted)
            {
                return false;
            }

            existing.Gone = true; // its tombstone's record in the log is no change any more
        }

        var entry = new Entry(schedule.Id, schedule.CreatedAt.UtcTicks)
        {
            Version = 1,
            Sequence = ++_sequence,
            Remaining = schedule.RemainingRuns ?? NoLimit,
        };
        entry.Write(schedule);
        _byId[schedule.Id] = entry;
        _order.Add(schedule.Id);
        Logged(entry);
        return true;
    }

    private void Logged(Entry entry)
    {
        _log.Add((entry.Sequence, entry));
        if (_log.Count > 64 && _log.Count > 2 * _byId.Count)
        {
            _log.RemoveAll(r => r.Entry.Gone || r.Entry.Sequence != r.Sequence);
        }
    }

    public StoredSchedule? Get(string id) => _byId.TryGetValue(id, out var e) && !e.Deleted ? e.Snapshot() : null;

    public StoredSchedulePage List(ScheduleQuery query)
    {
        var items = new List<StoredSchedule>(Math.Min(query.PageSize, 1024));
        foreach (string id in _order.From(query.ContinuationToken, query.IdPrefix))
        {
            if (query.IdPrefix is { } prefix && !id.StartsWith(prefix, StringComparison.Ordinal))
            {
                break; // the ids with a prefix lie together in ordinal order, from the prefix itself on
            }

            var s = _byId[id];
            if (s.Deleted || (query.Paused is { } paused && s.Paused != paused) ||
                (query.WorkflowName is { } workflow && s.WorkflowName != workflow) ||
                (query.Metadata is { Count: > 0 } wanted && wanted.Any(p => !s.Metadata.TryGetValue(p.Key, out var v) || v != p.Value)))
            {
                continue;
            }

            if (items.Count == query.PageSize)
            {
                return new StoredSchedulePage(items, items[^1].Id);
            }

            items.Add(s.Snapshot());
        }

        return new StoredSchedulePage(items, null);
    }

    public IReadOnlyList<StoredSchedule> ChangesAfter(long sequence, int limit)
    {
        int lo = 0, hi = _log.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_log[mid].Sequence <= sequence)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        if (lo == _log.Count)
        {
            return [];
        }

        var changes = new List<StoredSchedule>();
        for (int i = lo; i < _log.Count && changes.Count < limit; i++)
        {
            var (logged, entry) = _log[i];
            if (!entry.Gone && entry.Sequence == logged)
            {
                changes.Add(entry.Snapshot());
            }
        }

        return changes;
    }

    public bool Update(StoredSchedule schedule, long expectedVersion, bool setRemaining)
    {
        if (!_byId.TryGetValue(schedule.Id, out var entry) || entry.Deleted || entry.Version != expectedVersion)
        {
            return false;
        }

        if (schedule.SpecSince.UtcTicks != entry.SpecSinceTicks)
        {
            entry.SpecWatermark = NoWatermark; // the old spec's: a new spec starts afresh
        }

        entry.Write(schedule);
        entry.Version = expectedVersion + 1;
        entry.Sequence = ++_sequence;
        Logged(entry);
        if (setRemaining)
        {
            entry.Remaining = schedule.RemainingRuns ?? NoLimit;
        }

        return true;
    }

    public bool Delete(string id, DateTimeOffset at)
    {
        if (!_byId.TryGetValue(id, out var entry) || entry.Deleted)
        {
            return false;
        }

        entry.Deleted = true;
        entry.UpdatedTicks = at.UtcTicks;
        entry.Version++;
        entry.Sequence = ++_sequence;
        entry.SpecWatermark = NoWatermark;
        Logged(entry);
        return true;
    }

    public void AddCounts(string id, ScheduleCounters delta, long usedRuns)
    {
        if (_byId.TryGetValue(id, out var entry) && !entry.Deleted)
        {
            entry.Runs += delta.Runs;
            entry.Succeeded += delta.Succeeded;
            entry.Failed += delta.Failed;
            entry.Missed += delta.Missed;
            entry.Skipped += delta.Skipped;
            entry.Dropped += delta.Dropped;
            if (entry.Remaining != NoLimit)
            {
                entry.Remaining = Math.Max(0, entry.Remaining - usedRuns);
            }
        }
    }

    /// <summary>True when the schedule is paused or deleted: its pending occurrences are not claimed.</summary>
    public bool Holds(string scheduleId) => _byId.TryGetValue(scheduleId, out var entry) && (entry.Paused || entry.Deleted);

    /// <summary>Counts a run of the schedule claimed for its first attempt.</summary>
    public void CountStarted(string scheduleId)
    {
        if (_byId.TryGetValue(scheduleId, out var entry) && !entry.Deleted)
        {
            entry.Runs++;
        }
    }

    /// <summary>Takes back what <see cref="CountStarted"/> added for a claim undone before its run started (never below zero).</summary>
    public void UncountStarted(string scheduleId)
    {
        if (_byId.TryGetValue(scheduleId, out var entry) && !entry.Deleted && entry.Runs > 0)
        {
            entry.Runs--;
        }
    }

    /// <summary>Adds a completion that counted to its schedule's counters.</summary>
    public void CountCompletion(string scheduleId, RunStatus status)
    {
        if (status is RunStatus.Succeeded or RunStatus.Failed or RunStatus.Cancelled && _byId.TryGetValue(scheduleId, out var entry) && !entry.Deleted)
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
        foreach (var entry in _byId.Values.Where(e => e.Deleted && e.UpdatedTicks < beforeTicks && e.Sequence < _sequence).ToList())
        {
            _byId.Remove(entry.Id);
            _order.Remove(entry.Id);
            entry.Gone = true;
        }
    }

    private static IReadOnlyDictionary<string, string> Copy(IReadOnlyDictionary<string, string> metadata) =>
        metadata.Count == 0 ? ScheduledRun.EmptyMetadata : new Dictionary<string, string>(metadata, StringComparer.Ordinal);

    /// <summary>One schedule: what was written, and its counters, as fields of one object (a store holds many).</summary>
    private sealed class Entry(string id, long createdTicks)
    {
        public string Id { get; } = id;

        public long CreatedTicks { get; } = createdTicks;

        public string WorkflowName { get; private set; } = "";

        public string Definition { get; private set; } = "";

        public IReadOnlyDictionary<string, string> Metadata { get; private set; } = ScheduledRun.EmptyMetadata;

        public string? Note { get; private set; }

        public bool Paused { get; private set; }

        public bool CodeDefined { get; private set; }

        public bool Deleted { get; set; }

        /// <summary>True once the entry left the table (purged, or replaced by a new schedule of its id).</summary>
        public bool Gone { get; set; }

        public long UpdatedTicks { get; set; }

        public long SpecSinceTicks { get; private set; }

        public long Version { get; set; }

        public long Sequence { get; set; }

        /// <summary>Occurrences it may still create, or <see cref="NoLimit"/>.</summary>
        public long Remaining { get; set; }

        public long Runs { get; set; }

        public long Succeeded { get; set; }

        public long Failed { get; set; }

        public long Missed { get; set; }

        public long Skipped { get; set; }

        public long Dropped { get; set; }

        /// <summary>The watermark of the current spec (UTC ticks), or <see cref="NoWatermark"/>.</summary>
        public long SpecWatermark { get; set; } = NoWatermark;

        /// <summary>Takes what a create or update writes (not the id, creation, version, sequence, limit or counters).</summary>
        public void Write(StoredSchedule schedule)
        {
            WorkflowName = schedule.WorkflowName;
            Definition = schedule.Definition;
            Metadata = Copy(schedule.Metadata);
            Note = schedule.Note;
            Paused = schedule.Paused;
            CodeDefined = schedule.CodeDefined;
            UpdatedTicks = schedule.UpdatedAt.UtcTicks;
            SpecSinceTicks = schedule.SpecSince.UtcTicks;
        }

        /// <summary>The schedule as it now is, with its counters: a new record at each read.</summary>
        public StoredSchedule Snapshot() => new()
        {
            Id = Id,
            WorkflowName = WorkflowName,
            Definition = Definition,
            Metadata = Metadata,
            Paused = Paused,
            Note = Note,
            CodeDefined = CodeDefined,
            CreatedAt = new DateTimeOffset(CreatedTicks, TimeSpan.Zero),
            UpdatedAt = new DateTimeOffset(UpdatedTicks, TimeSpan.Zero),
            SpecSince = new DateTimeOffset(SpecSinceTicks, TimeSpan.Zero),
            Version = Version,
            Sequence = Sequence,
            Deleted = Deleted,
            RemainingRuns = Remaining == NoLimit ? null : Remaining,
            Counters = Runs == 0 && Succeeded == 0 && Failed == 0 && Missed == 0 && Skipped == 0 && Dropped == 0
                ? ScheduleCounters.Zero
                : new ScheduleCounters { Runs = Runs, Succeeded = Succeeded, Failed = Failed, Missed = Missed, Skipped = Skipped, Dropped = Dropped },
        };
    }
}
