using System.Runtime.CompilerServices;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Claiming;

/// <summary>
/// Claims the runs admission let through, under a lease, in batches, and starts them; runs due within the pre-claim
/// window are claimed as of their instant and kept, in due order, until it comes (<see cref="StartReady"/>). What
/// admission turned away (skipped by overlap, of a deleted schedule) is recorded by a <see cref="SkipRecorder"/>. Owned
/// by the loop.
/// </summary>
internal sealed class Claimer
{
    /// <summary>Runs in the first claim at a due instant, so the first start early; later claims are whole batches.</summary>
    private const int FirstDispatchChunk = 64;

    /// <summary>The least pre-claim window: enough for an in-memory or local store.</summary>
    private static readonly long s_minPreClaimTicks = TimeSpan.FromMilliseconds(8).Ticks;

    /// <summary>The most: far below any lease, so a run claimed ahead never waits for its instant past its lease.</summary>
    private static readonly long s_maxPreClaimTicks = TimeSpan.FromMilliseconds(250).Ticks;

    private readonly ISchedulingStore _store;
    private readonly SchedulingOptions _options;
    private readonly AdmissionControl _admission;
    private readonly TrackedRuns _tracked;
    private readonly ExecutionTracker _executions;
    private readonly Func<string, WorkflowDescriptor?> _find;
    private readonly LoopWait _wait;
    private readonly ScheduleHolds _holds;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SkipRecorder _skips;
    private readonly List<Guid> _claimIds = []; // scratch list, reused by every claim
    private readonly List<Claim> _exclusive = []; // admitted under a policy other than AllowAll: claimed one at a time
    private readonly List<WheelNode> _busySkipped = []; // of those, skipped (or dropped): a run of their schedule runs elsewhere
    private readonly List<WheelNode> _released = []; // buffered here behind a run that waits for another instance
    private readonly List<(RunLease Lease, long ClaimedAfterChange)> _ready = []; // claimed ahead of their due instant, in due order, from _readyStart on
    private int _readyStart;
    private volatile int _readyCount;
    private long _slowClaimTicks; // the slowest recent claim, decaying by an eighth per claim

    public Claimer(ISchedulingStore store, SchedulingOptions options, AdmissionControl admission, TrackedRuns tracked, ExecutionTracker executions, Func<string, WorkflowDescriptor?> find, LoopWait wait, ScheduleHolds holds, TimeProvider time, ILogger logger)
    {
        _holds = holds;
        _time = time;
        _store = store;
        _options = options;
        _admission = admission;
        _tracked = tracked;
        _executions = executions;
        _find = find;
        _wait = wait;
        _logger = logger;
        _skips = new SkipRecorder(store, options, admission, tracked, logger);
    }

    /// <summary>The instance id recorded with every lease this scheduler takes.</summary>
    public string Owner { get; set; } = "";

    /// <summary>
    /// How long before its due instant a run is claimed: the store's work (a claim is a write) is done ahead, so at the
    /// instant only the start remains. Twice the slowest recent claim (a durable store's commit waits for the disk or
    /// the network), from 8 ms to 250 ms; measured on the scheduler's clock, so fake time keeps it at its least. Runs
    /// whose admission depends on what is still running at the instant (an overlap policy other than AllowAll) are
    /// never claimed early.
    /// </summary>
    public long PreClaimTicks => Math.Clamp(2 * _slowClaimTicks, s_minPreClaimTicks, s_maxPreClaimTicks);

    /// <summary>Runs claimed ahead and waiting for their instant (read from any thread).</summary>
    public int ReadyCount => _readyCount;

    /// <summary>
    /// When the loop should next act for a run claimed ahead: a little before its instant on the real clock (it is
    /// handed over early and waits on its pool thread), at it otherwise; <see cref="long.MaxValue"/> when none.
    /// </summary>
    public long NextReadyTicks() => _readyStart < _ready.Count ? _ready[_readyStart].Lease.Run.DueTicks - _wait.HandOffTicks : long.MaxValue;

    /// <summary>
    /// Claims what the last admission let through (and records the occurrences it skipped). Runs due already are
    /// claimed as of now; runs due within the pre-claim window as of their instant, one instant per claim. When
    /// stopping has begun, nothing is claimed and the reserved slots are given back.
    /// </summary>
    public async Task ClaimAdmittedAsync(DateTimeOffset now, CancellationToken stop)
    {
        var toClaim = _admission.ToClaim;
        if (stop.IsCancellationRequested)
        {
            foreach (var claim in toClaim)
            {
                _admission.Unreserve(claim.Schedule); // no run starts once stopping has begun; they stay pending in the store
            }

            toClaim.Clear();
            return;
        }

        try
        {
            if (_admission.ToSkip.Count > 0)
            {
                await _skips.SkipAsync(_admission.ToSkip, now, Owner, stop).ConfigureAwait(false);
            }

            if (_admission.ToWithdraw.Count > 0)
            {
                await _skips.WithdrawAsync(_admission.ToWithdraw, stop).ConfigureAwait(false);
            }
        }
        catch
        {
            // Nothing admitted is claimed: the slots go back, and the feed offers the runs again after the back-off.
            foreach (var claim in toClaim)
            {
                _tracked.Forget(claim.Id);
                _admission.Unreserve(claim.Schedule);
            }

            toClaim.Clear();
            throw;
        }

        if (HasExclusive(toClaim))
        {
            foreach (var claim in toClaim)
            {
                if (claim.Overlap is not null)
                {
                    _exclusive.Add(claim);
                }
            }

            toClaim.RemoveAll(static c => c.Overlap is not null);
        }

        for (int offset = 0, chunk = Math.Min(_options.BatchSize, FirstDispatchChunk), end; offset < toClaim.Count; offset = end, chunk = _options.BatchSize)
        {
            end = FillClaimBatch(offset, chunk, now.UtcTicks, out long claimAt);
            var at = claimAt == now.UtcTicks ? now : new DateTimeOffset(claimAt, TimeSpan.Zero);
            IReadOnlyList<RunLease> leases;
            long claimedAfterChange = _holds.Current; // a schedule paused or deleted here after this reads so at its runs' start
            try
            {
                long started = _time.GetTimestamp();
                leases = await _store.ClaimAsync(_claimIds, at, _options.LeaseDuration, Owner, stop).ConfigureAwait(false);
                long took = _time.GetElapsedTime(started).Ticks;
                _slowClaimTicks = Math.Max(took, _slowClaimTicks - (_slowClaimTicks >> 3));
            }
            catch
            {
                // Nothing claimed (a failed store call changes nothing): give back the slots of this and later batches
                // and forget the nodes, so the feed loads the runs again after the back-off.
                for (int i = offset; i < toClaim.Count; i++)
                {
                    _tracked.Forget(toClaim[i].Id);
                    _admission.Unreserve(toClaim[i].Schedule);
                }

                toClaim.Clear();
                throw;
            }

            if (stop.IsCancellationRequested)
            {
                // Stopping began during the claim: hand the runs back instead of starting them (the claims undone:
                // no attempt of theirs began).
                foreach (var lease in leases)
                {
                    await _store.UnclaimAsync(lease.Run.Id, lease.Token, CancellationToken.None).ConfigureAwait(false);
                }

                leases = [];
            }

            TakeLeases(leases, offset, end, claimAt > now.UtcTicks, claimedAfterChange);
        }

        toClaim.Clear();
        if (_exclusive.Count > 0)
        {
            await ClaimExclusiveAsync(now, stop).ConfigureAwait(false);
        }
    }

    private static bool HasExclusive(List<Claim> claims)
    {
        foreach (var claim in claims)
        {
            if (claim.Overlap is not null)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Claims the runs admitted under an overlap policy other than AllowAll (at their instant; none runs here), each on
    /// its own and only while no run of its schedule runs on another instance sharing the store. When one does, the run
    /// is skipped under <see cref="OverlapPolicy.Skip"/>; under the other policies it stays pending (and is the one run
    /// that waits under <see cref="OverlapPolicy.BufferOne"/>: what was buffered behind it here is dropped; under the
    /// others that stays pending too), and the feed offers it again at the next poll, until that run has ended.
    /// </summary>
    private async Task ClaimExclusiveAsync(DateTimeOffset now, CancellationToken stop)
    {
        long claimedAfterChange = _holds.Current;
        try
        {
            for (int i = 0; i < _exclusive.Count; i++)
            {
                var claim = _exclusive[i];
                var node = claim.Node!;
                ExclusiveClaim result;
                try
                {
                    result = await _store.ClaimExclusiveAsync(claim.Id, now, _options.LeaseDuration, Owner, stop).ConfigureAwait(false);
                }
                catch
                {
                    // Nothing more is claimed: these, and those to skip, stay pending, and the feed offers them again.
                    for (int j = i; j < _exclusive.Count; j++)
                    {
                        _tracked.Forget(_exclusive[j].Id);
                        _admission.Unreserve(_exclusive[j].Schedule);
                    }

                    foreach (var skipped in _busySkipped)
                    {
                        _tracked.Forget(skipped.Id);
                    }

                    _busySkipped.Clear();
                    throw;
                }

                _tracked.Forget(claim.Id);
                if (result.Lease is { } lease && !stop.IsCancellationRequested)
                {
                    TakeLease(lease, ahead: false, claim.Descriptor, claimedAfterChange);
                }
                else if (result.Lease is { } handedBack)
                {
                    await _store.UnclaimAsync(handedBack.Run.Id, handedBack.Token, CancellationToken.None).ConfigureAwait(false); // stopping began meanwhile
                    _admission.Unreserve(claim.Schedule);
                }
                else if (result.Busy)
                {
                    int buffered = _released.Count;
                    _admission.BusyElsewhere(claim.Schedule!, _released);
                    if (claim.Overlap == OverlapPolicy.Skip)
                    {
                        _busySkipped.Add(node);
                        continue; // recorded as skipped below
                    }

                    if (claim.Overlap == OverlapPolicy.BufferOne)
                    {
                        // This run is the one that waits: what was buffered behind it here is dropped.
                        for (int j = buffered; j < _released.Count; j++)
                        {
                            _busySkipped.Add(_released[j]);
                            _admission.Dropped.Add(_released[j].Id);
                        }

                        _released.RemoveRange(buffered, _released.Count - buffered);
                    }

                    Log.RunWaitsForAnotherInstance(_logger, claim.Id, claim.Schedule!, claim.Overlap!.Value);
                }
                else
                {
                    _admission.Unreserve(claim.Schedule);
                }

                _tracked.Recycle(node);
            }
        }
        finally
        {
            _exclusive.Clear();
            _executions.Launch();
            foreach (var node in _released)
            {
                _tracked.Forget(node.Id);
                _tracked.Recycle(node);
            }

            _released.Clear();
        }

        if (_busySkipped.Count > 0)
        {
            try
            {
                await _skips.SkipAsync(_busySkipped, now, Owner, stop).ConfigureAwait(false);
            }
            finally
            {
                _busySkipped.Clear();
            }
        }
    }

    /// <summary>Starts the runs claimed ahead whose instant has come (or comes within the hand-off on the real clock).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void StartReady(long nowTicks)
    {
        long handOff = _wait.HandOffTicks;
        long handOffUntil = nowTicks > long.MaxValue - handOff ? long.MaxValue : nowTicks + handOff;
        while (_readyStart < _ready.Count && _ready[_readyStart].Lease.Run.DueTicks <= handOffUntil)
        {
            var (lease, claimedAfterChange) = _ready[_readyStart++];
            var execution = _executions.Start(lease, _find(lease.Run.WorkflowName), _admission.CancelsOther(lease.Run));
            execution.ClaimedAfterChange = claimedAfterChange;
            if (lease.Run.DueTicks > nowTicks)
            {
                // Handed over early: the handler starts when the monotonic clock reaches the instant, never before.
                execution.StartAt = SystemClockWait.TimestampAt(lease.Run.DueTicks, nowTicks);
            }
        }

        _executions.Launch();

        if (_readyStart == _ready.Count && _readyStart > 0)
        {
            _ready.Clear();
            _readyStart = 0;
        }

        _readyCount = _ready.Count - _readyStart;
    }

    /// <summary>At stop: hands back the runs claimed ahead that have not started (their claims undone), so they stay pending.</summary>
    public async Task ReleaseReadyAsync()
    {
        for (; _readyStart < _ready.Count; _readyStart++)
        {
            var lease = _ready[_readyStart].Lease;
            _admission.Unreserve(ScheduleKeys.Of(lease.Run.Kind, lease.Run.ScheduleId, lease.Run.WorkflowName));
            try
            {
                await _store.UnclaimAsync(lease.Run.Id, lease.Token, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                Log.CompletionFailed(_logger, e, lease.Run.Id); // its lease expires and the run is claimed again
            }
        }

        _ready.Clear();
        _readyStart = 0;
        _readyCount = 0;
    }

    /// <summary>Puts the ids of the next claim in <see cref="_claimIds"/>: up to a chunk of runs sharing one claim instant.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int FillClaimBatch(int offset, int chunk, long nowTicks, out long claimAt)
    {
        var toClaim = _admission.ToClaim;
        claimAt = Math.Max(nowTicks, toClaim[offset].DueTicks);
        _claimIds.Clear();
        int end = offset;
        for (; end < toClaim.Count && end - offset < chunk && Math.Max(nowTicks, toClaim[end].DueTicks) == claimAt; end++)
        {
            _claimIds.Add(toClaim[end].Id);
        }

        return end;
    }

    /// <summary>
    /// Starts the claimed runs of the claim of admitted runs <paramref name="offset"/> to <paramref name="end"/> (or
    /// keeps them for their instant when claimed ahead), and forgets those nodes: a run claimed is running (the store
    /// no longer reports it due); one not claimed was claimed elsewhere, deleted, rescheduled or not due after all, and
    /// gives its slot back. The feed reloads a run if it is due again. Leases come in the order of the ids claimed, so
    /// one walk pairs them with their nodes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void TakeLeases(IReadOnlyList<RunLease> leases, int offset, int end, bool ahead, long claimedAfterChange)
    {
        var toClaim = _admission.ToClaim;
        int next = 0;
        for (int i = offset; i < end; i++)
        {
            var claim = toClaim[i];
            var node = claim.Node;
            if (node is { Tracked: true })
            {
                _tracked.Forget(claim.Id);
            }

            if (next < leases.Count && leases[next].Run.Id == claim.Id)
            {
                TakeLease(leases[next++], ahead, claim.Descriptor, claimedAfterChange);
            }
            else
            {
                _admission.Unreserve(claim.Schedule);
            }

            // Claimed or not, nothing refers to the node now (it left the wheel when it fell due, and the admitted list
            // is cleared after the claim): the next Track reuses it.
            if (node is not null)
            {
                _tracked.Recycle(node);
            }
        }

        // A store that broke the order: the runs it claimed out of order still start, with their slots taken again.
        for (; next < leases.Count; next++)
        {
            _admission.Reserve(ScheduleKeys.Of(leases[next].Run.Kind, leases[next].Run.ScheduleId, leases[next].Run.WorkflowName));
            TakeLease(leases[next], ahead, _find(leases[next].Run.WorkflowName), claimedAfterChange);
        }

        _executions.Launch();
    }

    private void TakeLease(RunLease lease, bool ahead, WorkflowDescriptor? workflow, long claimedAfterChange)
    {
        if (ahead)
        {
            AddReady(lease, claimedAfterChange);
        }
        else
        {
            _executions.Start(lease, workflow, _admission.CancelsOther(lease.Run)).ClaimedAfterChange = claimedAfterChange;
        }
    }

    /// <summary>Keeps a run claimed ahead until its instant, in due order.</summary>
    private void AddReady(RunLease lease, long claimedAfterChange)
    {
        _ready.Add((lease, claimedAfterChange));
        int last = _ready.Count - 1;
        if (last > _readyStart && _ready[last - 1].Lease.Run.DueTicks > lease.Run.DueTicks)
        {
            _ready.Sort(_readyStart, _ready.Count - _readyStart, ReadyOrder.Instance);
        }

        _readyCount = _ready.Count - _readyStart;
    }

    private sealed class ReadyOrder : IComparer<(RunLease Lease, long ClaimedAfterChange)>
    {
        public static readonly ReadyOrder Instance = new();

        public int Compare((RunLease Lease, long ClaimedAfterChange) x, (RunLease Lease, long ClaimedAfterChange) y) => x.Lease.Run.DueTicks.CompareTo(y.Lease.Run.DueTicks);
    }
}
