using Durable.Scheduling.Storage;
namespace Durable.Scheduling.Tests.Testing;

/// <summary>A store that fails every call while <see cref="Down"/> is set (the database is unreachable).</summary>
public sealed class FlakyStore(ISchedulingStore inner) : ISchedulingStore
{
    public bool Down { get; set; }

    public int Failures { get; private set; }

    /// <summary>How many of the next claims fail (each with an <see cref="IOException"/>), whatever <see cref="Down"/> says.</summary>
    public int FailClaims { get; set; }

    /// <summary>How many of the next watermark advances fail (after the pass that makes them has inserted its runs).</summary>
    public int FailWatermarks { get; set; }

    /// <summary>How many of the next calls that record pending runs as skipped fail (writing nothing).</summary>
    public int FailSkips { get; set; }

    /// <summary>Asked before each addition to schedules' counts: true fails that call (writing nothing).</summary>
    public Func<IReadOnlyList<ScheduleCountChange>, bool>? FailCountsWhen { get; set; }

    /// <summary>How many of the next inserts fail (each with an <see cref="IOException"/>, writing nothing).</summary>
    public int FailInserts { get; set; }

    /// <summary>Asked before each insert: true fails that call (with an <see cref="IOException"/>, writing nothing).</summary>
    public Func<IReadOnlyList<ScheduledRun>, bool>? FailInsertsWhen { get; set; }

    /// <summary>Returns each claim's leases in reverse order (a store breaking the order contract).</summary>
    public bool ReverseClaims { get; set; }

    /// <summary>
    /// Called at each read of the schedules changed since a sequence (which every feed of the loop makes) before it is
    /// answered: a test moves the clock in it, for a slow feed.
    /// </summary>
    public Action? OnScheduleChangesRead { get; set; }

    /// <summary>Awaited before each read of due runs (which every feed of the loop makes): a store call that hangs.</summary>
    public Func<Task>? BeforeDueRead { get; set; }

    /// <summary>Awaited before each list is answered (a slow read); the list is answered when it completes.</summary>
    public Func<RunQuery, Task>? BeforeList { get; set; }

    /// <summary>Awaited after each schedule update that landed, before the caller goes on (a test lands a feed there).</summary>
    public Func<Task>? AfterScheduleUpdate { get; set; }

    /// <summary>Awaited before each schedule is created (a slow write); it is created when it completes.</summary>
    public Func<Task>? BeforeScheduleCreate { get; set; }

    /// <summary>Awaited before each wait for the planning lock (a test lands another instance's change there).</summary>
    public Func<Task>? BeforePlanning { get; set; }

    /// <summary>Called before each lease renewal is answered (a test moves the clock in it: a renewal that takes time).</summary>
    public Action? OnRenew { get; set; }

    /// <summary>Called with each batch of runs inserted, after the insert.</summary>
    public Action<IReadOnlyList<ScheduledRun>>? AfterInsert { get; set; }

    /// <summary>Called with the watermarks of each <see cref="AdvanceWatermarksAsync"/>, before it runs.</summary>
    public Action<IReadOnlyList<KeyValuePair<string, DateTimeOffset>>>? OnAdvanceWatermarks { get; set; }

    private T Guard<T>(Func<T> call)
    {
        if (Down)
        {
            Failures++;
            throw new IOException("The database is unreachable (injected fault).");
        }

        return call();
    }

    public async ValueTask<IReadOnlyList<InsertResult>> InsertAsync(IReadOnlyList<ScheduledRun> runs, CancellationToken cancellationToken)
    {
        if (FailInserts > 0 || FailInsertsWhen?.Invoke(runs) == true)
        {
            FailInserts = Math.Max(0, FailInserts - 1);
            Failures++;
            throw new IOException("Insert failed (test).");
        }

        var results = await Guard(() => inner.InsertAsync(runs, cancellationToken)).ConfigureAwait(false);
        AfterInsert?.Invoke(runs);
        return results;
    }

    public ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken) => Guard(() => inner.GetAsync(id, cancellationToken));

    public async ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken)
    {
        if (BeforeList is { } before)
        {
            await before(query).WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        return await Guard(() => inner.ListAsync(query, cancellationToken)).ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<RunRefusal>> DeleteAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken) => Guard(() => inner.DeleteAsync(ids, cancellationToken));

    public ValueTask<IReadOnlyList<Guid>> DeleteAsync(RunQuery filter, CancellationToken cancellationToken) => Guard(() => inner.DeleteAsync(filter, cancellationToken));

    public ValueTask<IReadOnlyList<Guid>> SkipPendingAsync(IReadOnlyList<Guid> ids, DateTimeOffset at, RunError reason, CancellationToken cancellationToken)
    {
        if (FailSkips > 0)
        {
            FailSkips--;
            Failures++;
            throw new IOException("Skip failed (test).");
        }

        return Guard(() => inner.SkipPendingAsync(ids, at, reason, cancellationToken));
    }

    public ValueTask<IReadOnlyList<ScheduledRun>> RescheduleAsync(IReadOnlyList<RunTimeChange> changes, CancellationToken cancellationToken) => Guard(() => inner.RescheduleAsync(changes, cancellationToken));

    public async ValueTask<DuePage> GetDueAsync(DateTimeOffset until, int limit, string? continuation, CancellationToken cancellationToken)
    {
        if (BeforeDueRead is { } before)
        {
            await before().WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        return await Guard(() => inner.GetDueAsync(until, limit, continuation, cancellationToken)).ConfigureAwait(false);
    }

    public ValueTask<IReadOnlyList<ScheduledRun>> GetExpiredLeasesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) => Guard(() => inner.GetExpiredLeasesAsync(now, limit, cancellationToken));

    public ValueTask<IReadOnlyList<RunLease>> ClaimAsync(IReadOnlyList<Guid> ids, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken)
    {
        if (FailClaims > 0)
        {
            FailClaims--;
            Failures++;
            throw new IOException("Claim failed (test).");
        }

        if (ReverseClaims)
        {
            return Reversed(inner.ClaimAsync(ids, now, leaseDuration, owner, cancellationToken));
        }

        return Guard(() => inner.ClaimAsync(ids, now, leaseDuration, owner, cancellationToken));

        static async ValueTask<IReadOnlyList<RunLease>> Reversed(ValueTask<IReadOnlyList<RunLease>> claim) => [.. (await claim).Reverse()];
    }

    public ValueTask<ExclusiveClaim> ClaimExclusiveAsync(Guid id, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken)
    {
        if (FailClaims > 0)
        {
            FailClaims--;
            Failures++;
            throw new IOException("Claim failed (test).");
        }

        return Guard(() => inner.ClaimExclusiveAsync(id, now, leaseDuration, owner, cancellationToken));
    }

    public async ValueTask<bool> CreateScheduleAsync(StoredSchedule schedule, CancellationToken cancellationToken)
    {
        if (BeforeScheduleCreate is { } before)
        {
            await before();
        }

        return await Guard(() => inner.CreateScheduleAsync(schedule, cancellationToken));
    }

    public ValueTask<StoredSchedule?> GetScheduleAsync(string id, CancellationToken cancellationToken) => Guard(() => inner.GetScheduleAsync(id, cancellationToken));

    public ValueTask<StoredSchedulePage> ListSchedulesAsync(ScheduleQuery query, CancellationToken cancellationToken) => Guard(() => inner.ListSchedulesAsync(query, cancellationToken));

    public ValueTask<IReadOnlyList<StoredSchedule>> GetScheduleChangesAsync(long afterSequence, int limit, CancellationToken cancellationToken) => Guard(() =>
    {
        OnScheduleChangesRead?.Invoke();
        return inner.GetScheduleChangesAsync(afterSequence, limit, cancellationToken);
    });

    public async ValueTask<bool> UpdateScheduleAsync(StoredSchedule schedule, long expectedVersion, bool setRemainingRuns, CancellationToken cancellationToken)
    {
        bool updated = await Guard(() => inner.UpdateScheduleAsync(schedule, expectedVersion, setRemainingRuns, cancellationToken)).ConfigureAwait(false);
        if (updated && AfterScheduleUpdate is { } after)
        {
            await after().ConfigureAwait(false);
        }

        return updated;
    }

    public ValueTask<bool> DeleteScheduleAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) => Guard(() => inner.DeleteScheduleAsync(id, at, cancellationToken));

    public async ValueTask AddScheduleCountsAsync(IReadOnlyList<ScheduleCountChange> changes, CancellationToken cancellationToken)
    {
        if (FailCountsWhen?.Invoke(changes) == true)
        {
            Failures++;
            throw new IOException("The database is unreachable (injected fault).");
        }

        await Guard(async () => { await inner.AddScheduleCountsAsync(changes, cancellationToken); return true; });
    }

    public ValueTask<IReadOnlyDictionary<string, DateTimeOffset>> GetWatermarksAsync(IReadOnlyCollection<string> schedules, CancellationToken cancellationToken) => Guard(() => inner.GetWatermarksAsync(schedules, cancellationToken));

    public async ValueTask AdvanceWatermarksAsync(IReadOnlyList<KeyValuePair<string, DateTimeOffset>> values, CancellationToken cancellationToken)
    {
        OnAdvanceWatermarks?.Invoke(values);
        if (FailWatermarks > 0)
        {
            FailWatermarks--;
            Failures++;
            throw new IOException("The database is unreachable (injected fault).");
        }

        await Guard(async () => { await inner.AdvanceWatermarksAsync(values, cancellationToken); return true; });
    }

    public async ValueTask<IAsyncDisposable> EnterPlanningAsync(CancellationToken cancellationToken)
    {
        if (BeforePlanning is { } before)
        {
            await before();
        }

        return await Guard(() => inner.EnterPlanningAsync(cancellationToken));
    }

    public ValueTask<int> ReleaseOwnedAsync(string owner, CancellationToken cancellationToken) => Guard(() => inner.ReleaseOwnedAsync(owner, cancellationToken));

    public ValueTask<IReadOnlyList<string>> GetLeaseOwnersAsync(CancellationToken cancellationToken) => Guard(() => inner.GetLeaseOwnersAsync(cancellationToken));

    public ValueTask<bool> RenewAsync(Guid id, Guid leaseToken, DateTimeOffset expiresAt, CancellationToken cancellationToken) => Guard(() =>
    {
        OnRenew?.Invoke();
        return inner.RenewAsync(id, leaseToken, expiresAt, cancellationToken);
    });

    public ValueTask<IReadOnlyList<bool>> CompleteAsync(IReadOnlyList<RunCompletion> completions, CancellationToken cancellationToken) => Guard(() => inner.CompleteAsync(completions, cancellationToken));

    public ValueTask<bool> ReleaseAsync(Guid id, Guid leaseToken, DateTimeOffset dueTime, RunError? failure, CancellationToken cancellationToken) => Guard(() => inner.ReleaseAsync(id, leaseToken, dueTime, failure, cancellationToken));

    public ValueTask<bool> UnclaimAsync(Guid id, Guid leaseToken, CancellationToken cancellationToken) => Guard(() => inner.UnclaimAsync(id, leaseToken, cancellationToken));

    public ValueTask<DateTimeOffset?> GetWatermarkAsync(string schedule, CancellationToken cancellationToken) => Guard(() => inner.GetWatermarkAsync(schedule, cancellationToken));

    public ValueTask AdvanceWatermarkAsync(string schedule, DateTimeOffset value, CancellationToken cancellationToken) => Guard(() => inner.AdvanceWatermarkAsync(schedule, value, cancellationToken));

    public ValueTask<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken) => Guard(() => inner.PurgeAsync(endedBefore, limit, cancellationToken));
}
