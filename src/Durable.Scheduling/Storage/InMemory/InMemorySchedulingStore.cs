using System.Diagnostics;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// The in-memory store (the default): fast, compact, not durable (everything is lost with the process). One process
/// only; several schedulers in that process may share one instance (each occurrence still runs once). Thread-safe.
/// Chosen with <c>AddScheduling().UseInMemoryStore()</c>; constructed directly, it can be shared or inspected in tests.
/// </summary>
/// <remarks>
/// A pending one-time run without input or metadata costs one compact slot (in pages that never move, found by id
/// through a dictionary of slot numbers, see <see cref="RunTable"/>) plus one entry in the list order (sorted chunks, see <see cref="RunChunks"/>), which also finds it when it is due; idempotency keys of such runs are derived from the id, not stored. A run's whole
/// state (times included) lives in its slot, so claiming or completing it looks its id up once; leases
/// live in a small dictionary of the runs running now, and ended runs are queued in the order they ended, for purging
/// without a scan. Everything runs under one lock, held for a few dictionary operations per run.
/// <para>It keeps at most <see cref="DefaultMaxEndedRuns"/> ended runs: beyond that, each run that ends drops the oldest
/// ended one, whatever <see cref="SchedulingOptions.RunRetention"/> says, so a process ending thousands of runs a second
/// does not keep a day of them in memory. Pending and running runs are never dropped.</para>
/// </remarks>
public sealed partial class InMemorySchedulingStore : ISchedulingStore
{
    /// <summary>How many ended runs the store keeps at most, by default.</summary>
    public const int DefaultMaxEndedRuns = 1_000_000;

    private readonly Lock _lock = new();
    private readonly RunTable _runs = new();
    private readonly RunOrder _order; // every run in list order, for filtered lists
    private readonly Dictionary<(string Key, string Value), RunChunks> _byMetadata = []; // runs with each metadata pair, in list order
    private readonly Dictionary<(int Workflow, long Ticks), Guid> _occurrenceKeys = [];
    private readonly Dictionary<(int Workflow, string Key), Guid> _callerKeys = [];
    private readonly RunChunks _dueApart = new(); // pending runs due at another instant than their scheduled one (retries, jitter), by due instant; entries of runs since claimed, deleted or moved stay until a pass drops them
    private readonly Func<RunKey, bool> _staleApart;
    private readonly Dictionary<string, int> _workflowIds = new(StringComparer.Ordinal);
    private readonly List<string> _workflowNames = [];
    private readonly Dictionary<string, long> _watermarks = new(StringComparer.Ordinal); // plain names (a spec's watermark is kept with its schedule)
    private readonly InMemorySchedules _schedules = new();
    private readonly Dictionary<Guid, Lease> _leases = new(RunIdComparer.Instance); // runs in status Running, so lease expiry never scans every run
    private readonly Dictionary<Guid, Extra> _extras = new(RunIdComparer.Instance); // runs with a key, input, metadata or error
    private readonly Queue<Guid> _ended = new(); // runs in the order they ended (ids of runs since deleted are skipped)
    private readonly ulong _tokenSeed = BitConverter.ToUInt64(Guid.NewGuid().ToByteArray(), 0);
    private ulong _tokenCounter; // lease tokens: unique per store, made under the lock (no shared atomic per claim)
    private string? _lastWorkflowName;
    private int _lastWorkflowId;
    private readonly int _maxEndedRuns;

    /// <summary>Creates an empty store.</summary>
    /// <param name="maxEndedRuns">The most ended runs it keeps (the oldest ended run goes as another ends); default
    /// <see cref="DefaultMaxEndedRuns"/>. Pending and running runs are never dropped.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxEndedRuns"/> is zero or negative.</exception>
    public InMemorySchedulingStore(int maxEndedRuns = DefaultMaxEndedRuns)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEndedRuns);
        _maxEndedRuns = maxEndedRuns;
        _order = new RunOrder(_runs);
        _staleApart = entry => !_runs.TryGetValue(entry.Id, out var slot) || slot.Status != RunStatus.Pending || slot.Due != entry.Scheduled || slot.Due == slot.Scheduled;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-run loops on the dispatch path (see Engine/Claiming)
    public ValueTask<IReadOnlyList<InsertResult>> InsertAsync(IReadOnlyList<ScheduledRun> runs, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var results = new InsertResult[runs.Count];
        lock (_lock)
        {
            int i = 0;
            try
            {
                for (; i < runs.Count; i++)
                {
                    results[i] = InsertOne(runs[i]);
                }
            }
            catch (ArgumentException)
            {
                // All or nothing, as a durable store's transaction: take back the runs this call inserted.
                for (int j = 0; j < i; j++)
                {
                    if (results[j].Created && _runs.TryGetValue(runs[j].Id, out var inserted))
                    {
                        Remove(runs[j].Id, inserted);
                    }
                }

                throw;
            }
        }

        return new(results);
    }

    /// <inheritdoc />
    public ValueTask<InsertResult> InsertOneAsync(ScheduledRun run, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(InsertOne(run));
        }
    }

    private InsertResult InsertOne(ScheduledRun run)
    {
        int workflow = WorkflowId(run.WorkflowName);
        string? callerKey = null;
        string? scheduleId = run.ScheduleId;
        bool occurrenceKey = run.Kind is RunKind.Occurrence or RunKind.Backfill && run.HasDerivedKey;
        int keySpace = occurrenceKey ? WorkflowId(scheduleId ?? run.WorkflowName) : workflow;
        if (occurrenceKey)
        {
            var key = (keySpace, run.ScheduledTime.UtcTicks);
            if (_occurrenceKeys.TryGetValue(key, out var existing))
            {
                return new InsertResult(ToRun(existing, _runs[existing]), false);
            }

            _occurrenceKeys.Add(key, run.Id);
        }
        else if (!run.HasDerivedKey)
        {
            callerKey = run.IdempotencyKey;
            var key = (workflow, callerKey);
            if (_callerKeys.TryGetValue(key, out var existing))
            {
                return new InsertResult(ToRun(existing, _runs[existing]), false);
            }

            _callerKeys.Add(key, run.Id);
        }

        var slot = new Slot
        {
            Workflow = workflow,
            Kind = run.Kind,
            Status = RunStatus.Pending,
            Scheduled = run.ScheduledTime.UtcTicks,
            Due = run.DueTime.UtcTicks,
            Created = run.CreatedAt.UtcTicks,
            HasExtra = callerKey is not null || run.Input is not null || run.Metadata.Count > 0 || run.TraceParent is not null,
            Schedule = OwnSchedule(run) is { } own ? WorkflowId(own) + 1 : 0,
            Overlap = run.Overlap,
        };
        ref var stored = ref _runs.Add(run.Id, out bool exists);
        if (exists)
        {
            // A new key with an id already stored (a caller reusing ids): refused whole, the key taken back.
            if (occurrenceKey)
            {
                _occurrenceKeys.Remove((keySpace, run.ScheduledTime.UtcTicks));
            }
            else if (callerKey is not null)
            {
                _callerKeys.Remove((workflow, callerKey));
            }

            throw new ArgumentException($"A run with id {run.Id} is stored already.", nameof(run));
        }

        stored = slot;
        _order.Add(run.Id, ref stored);
        if (slot.HasExtra)
        {
            var extra = new Extra { CallerKey = callerKey, Input = run.Input, Metadata = run.Metadata.Count == 0 ? null : run.Metadata, TraceParent = run.TraceParent };
            _extras[run.Id] = extra;
            IndexMetadata(run.Id, slot.Scheduled, extra.Metadata);
        }

        AddDue(slot, run.Id);
        return new InsertResult(run, true);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RunRefusal>> DeleteAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var refused = new List<RunRefusal>();
        lock (_lock)
        {
            foreach (var id in ids)
            {
                if (!_runs.TryGetValue(id, out var slot))
                {
                    refused.Add(new RunRefusal(id, null));
                }
                else if (slot.Status == RunStatus.Running)
                {
                    refused.Add(new RunRefusal(id, RunStatus.Running));
                }
                else
                {
                    Remove(id, slot);
                }
            }
        }

        return new(refused);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Guid>> DeleteAsync(RunQuery filter, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        List<Guid> deleted;
        lock (_lock)
        {
            deleted = Select(filter, RunKey.Lowest, int.MaxValue, withRunning: false);
            foreach (var id in deleted)
            {
                Remove(id, _runs[id]);
            }
        }

        return new(deleted);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ScheduledRun>> RescheduleAsync(IReadOnlyList<RunTimeChange> changes, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            var refused = new List<RunRefusal>();
            foreach (var (id, _) in changes)
            {
                if (!_runs.TryGetValue(id, out var slot))
                {
                    refused.Add(new RunRefusal(id, null));
                }
                else if (slot.Status != RunStatus.Pending)
                {
                    refused.Add(new RunRefusal(id, slot.Status));
                }
            }

            if (refused.Count > 0)
            {
                throw new ScheduledRunStateException(refused, "reschedule");
            }

            var result = new ScheduledRun[changes.Count];
            for (int i = 0; i < changes.Count; i++)
            {
                var (id, time) = changes[i];
                ref var slot = ref _runs.Find(id);
                var metadata = ExtraOf(id, slot)?.Metadata;
                _order.Remove(id, slot);
                UnindexMetadata(id, slot.Scheduled, metadata);
                slot.Scheduled = time.UtcTicks;
                slot.Due = time.UtcTicks;
                _order.Add(id, ref slot);
                IndexMetadata(id, slot.Scheduled, metadata);
                AddDue(slot, id);
                result[i] = ToRun(id, slot);
            }

            return new(result);
        }
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-run loops on the dispatch path (see Engine/Claiming)
    public ValueTask<IReadOnlyList<RunLease>> ClaimAsync(IReadOnlyList<Guid> ids, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        long nowTicks = now.UtcTicks;
        long expires = nowTicks + leaseDuration.Ticks;

        // Under the lock only the claim itself; the run snapshots are built after it is released (they allocate, and
        // an allocation may start a garbage collection, which would hold the lock for everyone meanwhile).
        var claimed = ArrayPool<Claimed>.Shared.Rent(ids.Count);
        int count = 0;
        lock (_lock)
        {
            for (int i = 0; i < ids.Count; i++)
            {
                var id = ids[i];
                ref var slot = ref _runs.Find(id);
                if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot))
                {
                    continue;
                }

                // A pending occurrence of a paused or deleted schedule is left alone: the instance claiming it may not
                // have read the change yet.
                bool claimable = (slot.Status == RunStatus.Pending && slot.Due <= nowTicks &&
                        !(slot.Kind == RunKind.Occurrence && _schedules.Holds(ImpliedScheduleOf(slot)!))) ||
                    (slot.Status == RunStatus.Running && _leases[id].Expires <= nowTicks);
                if (!claimable)
                {
                    continue;
                }

                var token = NewToken();
                _leases[id] = new Lease(token, expires, owner);
                slot.Started = nowTicks;
                SetStatus(id, ref slot, RunStatus.Running);
                slot.Attempt++;
                if (slot.Attempt == 1 && ImpliedScheduleOf(slot) is { } schedule)
                {
                    _schedules.CountStarted(schedule);
                }

                claimed[count++] = new Claimed(id, slot, token, _workflowNames[slot.Workflow], ScheduleOf(slot), ExtraOf(id, slot));
            }
        }

        var leases = new RunLease[count];
        var expiresAt = new DateTimeOffset(expires, TimeSpan.Zero);
        for (int i = 0; i < count; i++)
        {
            ref readonly var c = ref claimed[i];
            leases[i] = new RunLease(Snapshot(c.Id, c.Slot, c.Workflow, c.Schedule, c.Extra), c.Token, expiresAt);
        }

        Array.Clear(claimed, 0, count); // no references kept alive in the pool
        ArrayPool<Claimed>.Shared.Return(claimed);
        return new(leases);
    }

    /// <inheritdoc />
    public ValueTask<ExclusiveClaim> ClaimExclusiveAsync(Guid id, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            // The check and the claim under one hold of the lock (ClaimAsync takes it again, on this thread).
            ref var slot = ref _runs.Find(id);
            if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot) && ImpliedScheduleOf(slot) is { } schedule && RunningElsewhere(schedule, id, now.UtcTicks))
            {
                return new(ExclusiveClaim.ScheduleBusy);
            }

            var claim = ClaimAsync([id], now, leaseDuration, owner, cancellationToken);
            Debug.Assert(claim.IsCompleted, "the in-memory store completes every call synchronously");
            var leases = claim.Result;
            return new(leases.Count == 0 ? ExclusiveClaim.NotClaimable : new ExclusiveClaim(leases[0], false));
        }
    }

    /// <summary>True when a run of <paramref name="schedule"/> other than <paramref name="id"/> is running under a live lease (a walk over the leases: for exclusive claims only).</summary>
    private bool RunningElsewhere(string schedule, Guid id, long nowTicks)
    {
        foreach (var (runId, lease) in _leases)
        {
            if (runId != id && lease.Expires > nowTicks && ImpliedScheduleOf(_runs.Find(runId)) == schedule)
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // per-run loops on the dispatch path (see Engine/Claiming)
    public ValueTask<IReadOnlyList<bool>> CompleteAsync(IReadOnlyList<RunCompletion> completions, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var results = new bool[completions.Count];
        lock (_lock)
        {
            for (int i = 0; i < completions.Count; i++)
            {
                var c = completions[i];
                ref var slot = ref TakeLease(c.RunId, c.LeaseToken);
                if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot))
                {
                    continue;
                }

                SetStatus(c.RunId, ref slot, c.Status);
                slot.Completed = c.CompletedAt.UtcTicks;
                SetError(c.RunId, ref slot, c.Error);
                if (c.ScheduleId is { } schedule)
                {
                    _schedules.CountCompletion(schedule, c.Status);
                }

                _ended.Enqueue(c.RunId);
                if (_ended.Count > _maxEndedRuns)
                {
                    DropOldestEnded();
                }

                results[i] = true;
            }
        }

        return new(results);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Guid>> SkipPendingAsync(IReadOnlyList<Guid> ids, DateTimeOffset at, RunError reason, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ArgumentNullException.ThrowIfNull(reason);
        var skipped = new List<Guid>(ids.Count);
        lock (_lock)
        {
            foreach (var id in ids)
            {
                ref var slot = ref _runs.Find(id);
                if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot) || slot.Status != RunStatus.Pending)
                {
                    continue;
                }

                SetStatus(id, ref slot, RunStatus.Skipped);
                slot.Completed = at.UtcTicks;
                SetError(id, ref slot, reason);
                _ended.Enqueue(id);
                if (_ended.Count > _maxEndedRuns)
                {
                    DropOldestEnded();
                }

                skipped.Add(id);
            }
        }

        return new(skipped);
    }

    /// <inheritdoc />
    public ValueTask<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int purged = 0;
        lock (_lock)
        {
            _schedules.PurgeDeleted(endedBefore.UtcTicks);
            // Oldest ended first; the look is bounded, so ids of runs deleted since they ended cannot hold the lock long.
            for (int looked = 0; purged < limit && looked < limit * 4 && _ended.TryPeek(out var id); looked++)
            {
                ref var slot = ref _runs.Find(id);
                if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot) && slot.Status is not (RunStatus.Pending or RunStatus.Running))
                {
                    if (slot.Completed >= endedBefore.UtcTicks)
                    {
                        break;
                    }

                    Remove(id, slot);
                    purged++;
                }

                _ended.Dequeue();
            }
        }

        return new(purged);
    }

    /// <summary>Drops the oldest ended runs until at most the cap remain (ids of runs deleted since are skipped).</summary>
    private void DropOldestEnded()
    {
        while (_ended.Count > _maxEndedRuns && _ended.TryDequeue(out var id))
        {
            ref var slot = ref _runs.Find(id);
            if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot) && slot.Status is not (RunStatus.Pending or RunStatus.Running))
            {
                Remove(id, slot);
            }
        }
    }

    private ref Slot Leased(Guid id, Guid token)
    {
        ref var slot = ref _runs.Find(id);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot) &&
            slot.Status == RunStatus.Running && _leases.TryGetValue(id, out var lease) && lease.Token == token)
        {
            return ref slot;
        }

        return ref System.Runtime.CompilerServices.Unsafe.NullRef<Slot>();
    }

    /// <summary>Ends a run's lease if <paramref name="token"/> is its current one (one lookup in the lease table).</summary>
    /// <returns>The run's slot, or a null reference when the lease was lost (and is then left as it was).</returns>
    private ref Slot TakeLease(Guid id, Guid token)
    {
        ref var slot = ref _runs.Find(id);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot) || slot.Status != RunStatus.Running || !_leases.Remove(id, out var lease))
        {
            return ref System.Runtime.CompilerServices.Unsafe.NullRef<Slot>();
        }

        if (lease.Token != token)
        {
            _leases.Add(id, lease); // a stale holder: the lease stays with the current one
            return ref System.Runtime.CompilerServices.Unsafe.NullRef<Slot>();
        }

        return ref slot;
    }

    /// <summary>A new lease token: unique within this store (a per-store random half and a counter).</summary>
    private Guid NewToken()
    {
        Span<ulong> parts = [_tokenSeed, ++_tokenCounter];
        return MemoryMarshal.Read<Guid>(MemoryMarshal.AsBytes(parts));
    }
}
