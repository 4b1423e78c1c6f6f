namespace Durable.Scheduling.Storage;

/// <summary>
/// Where runs, recurring schedules and their watermarks live. Implemented by the in-memory store, the SQLite and PostgreSQL packages;
/// every implementation must pass the storage conformance suite. Stores never read a clock: every instant they need
/// comes from the scheduler's <see cref="TimeProvider"/> as an argument. All instants are UTC.
/// </summary>
/// <remarks>
/// <para><b>Exactly-once.</b> <see cref="InsertAsync"/> accepts a run for an idempotency key once, enforced atomically
/// (a unique constraint, never check-then-insert across calls). <see cref="ClaimAsync"/> moves a due pending run (or a
/// running run whose lease expired) to <see cref="RunStatus.Running"/> under a new lease token, atomically, so two
/// claimers never both win; <see cref="ClaimExclusiveAsync"/> does so only while no other run of the run's schedule is
/// running, in the same atomic step. <see cref="CompleteAsync"/>, <see cref="ReleaseAsync"/>, <see cref="UnclaimAsync"/>
/// and <see cref="RenewAsync"/> count only with the current lease token (fencing): a holder whose lease was lost changes
/// nothing.</para>
/// <para><b>Leases between clocks.</b> A lease has expired when the claimer's instant is at or past its expiry. A store
/// shared by processes whose clocks may differ may in addition require the lease to have run its length on the store's
/// own clock (measured from the claim, moved by as much as each renewal moves the expiry), so that a process whose clock
/// runs ahead never takes a live lease; a lease of zero length has expired by any clock.</para>
/// <para><b>Thread-safety.</b> Every member may be called concurrently, from many processes for durable stores.</para>
/// <para><b>Failures.</b> A durable store reports an unreachable or failing database as <see cref="IOException"/>
/// and a lock held past its timeout as <see cref="TimeoutException"/>, never as a provider exception; a call that
/// fails changes nothing. The scheduler logs such failures, backs off for a poll interval and retries.</para>
/// </remarks>
public interface ISchedulingStore
{
    /// <summary>Inserts runs that do not exist yet; a run whose idempotency key exists is not inserted.</summary>
    /// <param name="runs">Pending runs (attempt 0).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>For each run, in order: the stored run (the existing one when the key existed) and whether it was created.</returns>
    ValueTask<IReadOnlyList<InsertResult>> InsertAsync(IReadOnlyList<ScheduledRun> runs, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts one run unless its idempotency key exists, with the semantics of <see cref="InsertAsync"/>. The default
    /// implementation calls that method with a list of one; a store may override it to skip the list.
    /// </summary>
    /// <param name="run">A pending run (attempt 0).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The stored run (the existing one when the key existed) and whether it was created.</returns>
    async ValueTask<InsertResult> InsertOneAsync(ScheduledRun run, CancellationToken cancellationToken) =>
        (await InsertAsync([run], cancellationToken).ConfigureAwait(false))[0];

    /// <summary>Gets a run by id.</summary>
    /// <param name="id">The run id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The run, or null when there is none.</returns>
    ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken);

    /// <summary>Lists runs matching a query, ordered by scheduled time then id, one page at a time.</summary>
    /// <param name="query">The filter and paging.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken);

    /// <summary>Deletes the given runs that are not running, atomically.</summary>
    /// <param name="ids">The run ids.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The runs not deleted, with their status (null when absent); empty when all were deleted.</returns>
    ValueTask<IReadOnlyList<RunRefusal>> DeleteAsync(IReadOnlyCollection<Guid> ids, CancellationToken cancellationToken);

    /// <summary>Deletes every run matching the filter that is not running (paging fields are ignored).</summary>
    /// <param name="filter">The filter.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The ids deleted.</returns>
    ValueTask<IReadOnlyList<Guid>> DeleteAsync(RunQuery filter, CancellationToken cancellationToken);

    /// <summary>
    /// Ends pending runs as <see cref="RunStatus.Skipped"/> without running them (an occurrence deleted by the user, or
    /// missed under its schedule's catch-up policy): each keeps its record and idempotency key, so it is never created
    /// again. Runs absent or not pending are left alone.
    /// </summary>
    /// <param name="ids">The runs.</param>
    /// <param name="at">When they were skipped (their completion time).</param>
    /// <param name="reason">Why, recorded as the run's error.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The ids skipped, in the order given.</returns>
    ValueTask<IReadOnlyList<Guid>> SkipPendingAsync(IReadOnlyList<Guid> ids, DateTimeOffset at, RunError reason, CancellationToken cancellationToken);

    /// <summary>
    /// Moves pending runs to new times (scheduled and due time), all or nothing: when any run is absent or not pending,
    /// nothing changes and <see cref="ScheduledRunStateException"/> lists them.
    /// </summary>
    /// <param name="changes">Run ids with their new UTC times.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The rescheduled runs, in order.</returns>
    /// <exception cref="ScheduledRunStateException">A run is absent or not pending.</exception>
    ValueTask<IReadOnlyList<ScheduledRun>> RescheduleAsync(IReadOnlyList<RunTimeChange> changes, CancellationToken cancellationToken);

    /// <summary>
    /// Pending runs due at or before <paramref name="until"/>, ordered by due time then a store-defined tie-break,
    /// strictly after <paramref name="continuation"/>.
    /// </summary>
    /// <param name="until">The horizon.</param>
    /// <param name="limit">The most runs to return.</param>
    /// <param name="continuation">The previous page's token, or null to start from the earliest.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page; its token resumes after its last run (null when the page was not full).</returns>
    ValueTask<DuePage> GetDueAsync(DateTimeOffset until, int limit, string? continuation, CancellationToken cancellationToken);

    /// <summary>Running runs whose lease expired at or before <paramref name="now"/> (their holder is presumed dead).</summary>
    /// <param name="now">The current instant.</param>
    /// <param name="limit">The most runs to return.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The runs.</returns>
    ValueTask<IReadOnlyList<ScheduledRun>> GetExpiredLeasesAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Claims runs atomically: each pending run due at or before <paramref name="now"/>, or running run whose lease
    /// expired, becomes running under a new lease token, with its attempt incremented and its start time set. A run of
    /// a recurring schedule (<see cref="ScheduledRun.ScheduleId"/> set) claimed for its first attempt adds one to that
    /// schedule's <see cref="ScheduleCounters.Runs"/>, in the same transaction (a retry or a takeover adds nothing).
    /// A pending occurrence (<see cref="RunKind.Occurrence"/>) whose schedule is paused or deleted is not claimed: the
    /// instance asking may not have read the change yet (an occurrence stored without a schedule id is its workflow's
    /// schedule's; triggered and backfilled runs, and takeovers of started runs, are claimed as usual).
    /// </summary>
    /// <param name="ids">The runs to claim.</param>
    /// <param name="now">The instant of the claim: the current instant, or, for runs claimed a few milliseconds ahead of
    /// their instant, that instant (a run is claimable when its due time is at or before it).</param>
    /// <param name="leaseDuration">How long the lease lasts unless renewed.</param>
    /// <param name="owner">The claiming scheduler instance, recorded with the lease (see <see cref="ReleaseOwnedAsync"/>).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>
    /// The leases won, in the order of <paramref name="ids"/>; runs not claimable (absent, not due, held by a live lease,
    /// ended, an occurrence of a paused or deleted schedule) are left out. The scheduler pairs leases with the runs it asked for in that order (a store that breaks it
    /// costs a little work, never a run).
    /// </returns>
    ValueTask<IReadOnlyList<RunLease>> ClaimAsync(IReadOnlyList<Guid> ids, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken);

    /// <summary>
    /// Claims one run as <see cref="ClaimAsync"/> does, unless another run of its schedule (the same
    /// <see cref="ScheduledRun.ScheduleId"/>, an occurrence stored without one being its workflow's) is running under a
    /// lease that has not expired by <paramref name="now"/> (nor, for a store with a clock of its own, by that clock):
    /// then nothing changes and the result is <see cref="ExclusiveClaim.ScheduleBusy"/>. The check and the claim are one
    /// atomic step: of several claimers asking at once for different runs of one schedule, at most one wins while none
    /// of its runs is running. A run without a schedule is claimed as by <see cref="ClaimAsync"/>. The scheduler claims
    /// so the runs whose overlap policy is not <see cref="OverlapPolicy.AllowAll"/>, so that a schedule's runs never
    /// overlap across the instances sharing a store. (A run claimed by <see cref="ClaimAsync"/> only to be completed as
    /// skipped at once may briefly count as running.)
    /// </summary>
    /// <param name="id">The run to claim.</param>
    /// <param name="now">The instant of the claim (see <see cref="ClaimAsync"/>).</param>
    /// <param name="leaseDuration">How long the lease lasts unless renewed.</param>
    /// <param name="owner">The claiming scheduler instance, recorded with the lease.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The lease won, or why none was.</returns>
    ValueTask<ExclusiveClaim> ClaimExclusiveAsync(Guid id, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken);

    /// <summary>
    /// Returns every running run whose lease is held by <paramref name="owner"/> to pending (attempts kept): a scheduler
    /// instance restarting under a stable id frees what it held when it died, without waiting for the leases to expire.
    /// </summary>
    /// <param name="owner">The instance id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many runs were released.</returns>
    ValueTask<int> ReleaseOwnedAsync(string owner, CancellationToken cancellationToken);

    /// <summary>
    /// The distinct instance ids holding the leases of running runs (expired or not), each once, in no particular order:
    /// a scheduler starting without a stable id looks among them for processes of its own machine that are gone, and
    /// frees their runs with <see cref="ReleaseOwnedAsync"/> at once instead of waiting for their leases to expire. The
    /// default returns none (that recovery then waits for the leases); every store in this repository implements it.
    /// </summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The owners, as the claims recorded them.</returns>
    ValueTask<IReadOnlyList<string>> GetLeaseOwnersAsync(CancellationToken cancellationToken) => new([]);

    /// <summary>Extends a lease, only with its current token.</summary>
    /// <param name="id">The run.</param>
    /// <param name="leaseToken">The lease token.</param>
    /// <param name="expiresAt">The new expiry.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>False when the lease was lost.</returns>
    ValueTask<bool> RenewAsync(Guid id, Guid leaseToken, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>Ends runs (succeeded, failed, cancelled or skipped), each only with its current lease token.</summary>
    /// <param name="completions">The completions.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>For each completion, in order, whether it counted.</returns>
    ValueTask<IReadOnlyList<bool>> CompleteAsync(IReadOnlyList<RunCompletion> completions, CancellationToken cancellationToken);

    /// <summary>
    /// Returns a running run to pending (for a retry, or when shutdown interrupted it), only with its current lease
    /// token. The attempt count is kept.
    /// </summary>
    /// <param name="id">The run.</param>
    /// <param name="leaseToken">The lease token.</param>
    /// <param name="dueTime">When it is due again.</param>
    /// <param name="failure">The failure that caused a retry, or null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>False when the lease was lost.</returns>
    ValueTask<bool> ReleaseAsync(Guid id, Guid leaseToken, DateTimeOffset dueTime, RunError? failure, CancellationToken cancellationToken);

    /// <summary>
    /// Undoes the claim of a run whose handler never started (the scheduler stopped, or its schedule was paused or
    /// deleted, between the claim and the run's instant), only with its current lease token: the run is pending again,
    /// its due time and error unchanged, and its attempt count is one less, so the attempt that never ran is neither
    /// reported nor taken from its retries. When that brings the count back to zero, its start time is cleared, and the
    /// one that the claim added to its schedule's <see cref="ScheduleCounters.Runs"/> is taken back in the same
    /// transaction (never below zero); otherwise its start time is left as the claim set it.
    /// </summary>
    /// <param name="id">The run.</param>
    /// <param name="leaseToken">The lease token of the claim to undo.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>False when the lease was lost (the run was taken over, or is no longer running): nothing changed.</returns>
    ValueTask<bool> UnclaimAsync(Guid id, Guid leaseToken, CancellationToken cancellationToken);

    /// <summary>Gets a recurring schedule's watermark: the last occurrence handled (see <see cref="WatermarkNames"/>).</summary>
    /// <param name="schedule">The schedule name.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The watermark, or null for a schedule never run.</returns>
    ValueTask<DateTimeOffset?> GetWatermarkAsync(string schedule, CancellationToken cancellationToken);

    /// <summary>
    /// Gets several schedules' watermarks in one call. The default implementation calls
    /// <see cref="GetWatermarkAsync"/> for each; a store may override it to read them together.
    /// </summary>
    /// <param name="schedules">The schedule names.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The watermarks of the schedules that have one.</returns>
    async ValueTask<IReadOnlyDictionary<string, DateTimeOffset>> GetWatermarksAsync(IReadOnlyCollection<string> schedules, CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (string schedule in schedules)
        {
            if (await GetWatermarkAsync(schedule, cancellationToken).ConfigureAwait(false) is { } value)
            {
                found[schedule] = value;
            }
        }

        return found;
    }

    /// <summary>
    /// Advances several watermarks, with the semantics of <see cref="AdvanceWatermarkAsync"/> for each. The default
    /// implementation calls that method for each; a store may override it to write them in one transaction.
    /// </summary>
    /// <param name="values">Schedule names with their new watermarks.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when stored.</returns>
    async ValueTask AdvanceWatermarksAsync(IReadOnlyList<KeyValuePair<string, DateTimeOffset>> values, CancellationToken cancellationToken)
    {
        foreach (var (schedule, value) in values)
        {
            await AdvanceWatermarkAsync(schedule, value, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Advances a schedule's watermark; a value at or before the stored one changes nothing. The watermark of a spec
    /// (a name from <see cref="WatermarkNames.OfSpec(string, DateTimeOffset)"/>) is stored only while that spec is its schedule's current one (the
    /// schedule exists, is not deleted, and its <see cref="StoredSchedule.SpecSince"/> is the name's instant), checked in
    /// the same atomic step: otherwise nothing is stored, so a scheduler that has not yet seen a change cannot bring back
    /// a watermark that <see cref="UpdateScheduleAsync"/> or <see cref="DeleteScheduleAsync"/> removed. Plain names are
    /// stored as given.
    /// </summary>
    /// <param name="schedule">The schedule name.</param>
    /// <param name="value">The last occurrence handled.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when the watermark is stored.</returns>
    ValueTask AdvanceWatermarkAsync(string schedule, DateTimeOffset value, CancellationToken cancellationToken);

    /// <summary>
    /// Creates a schedule with <see cref="StoredSchedule.Version"/> 1 and a new <see cref="StoredSchedule.Sequence"/>,
    /// unless one with its id exists (a deleted one is replaced). Atomic: of two concurrent creates one wins.
    /// </summary>
    /// <param name="schedule">The schedule (its version and sequence are set by the store).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>True when created; false when the id exists.</returns>
    ValueTask<bool> CreateScheduleAsync(StoredSchedule schedule, CancellationToken cancellationToken);

    /// <summary>Gets a schedule by id.</summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The schedule, or null when absent or deleted.</returns>
    ValueTask<StoredSchedule?> GetScheduleAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Lists schedules (not deleted) matching the query's <see cref="ScheduleQuery.Paused"/>,
    /// <see cref="ScheduleQuery.WorkflowName"/>, <see cref="ScheduleQuery.IdPrefix"/> (ordinal) and
    /// <see cref="ScheduleQuery.Metadata"/>, ordered by id (ordinal), a page at a time.
    /// </summary>
    /// <param name="query">The filter and paging.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    ValueTask<StoredSchedulePage> ListSchedulesAsync(ScheduleQuery query, CancellationToken cancellationToken);

    /// <summary>
    /// Schedules created, updated or deleted (deleted ones included, with <see cref="StoredSchedule.Deleted"/>) with a
    /// sequence greater than <paramref name="afterSequence"/>, in sequence order: how a scheduler learns of changes made
    /// elsewhere. Sequences must be handed out in commit order, so a reader never sees a later one before an earlier one.
    /// </summary>
    /// <param name="afterSequence">The last sequence seen (0 for all).</param>
    /// <param name="limit">The most to return.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The changed schedules.</returns>
    ValueTask<IReadOnlyList<StoredSchedule>> GetScheduleChangesAsync(long afterSequence, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces a schedule's workflow, definition, metadata, pause state, note, code-defined flag, update and spec
    /// instants, and (when <paramref name="setRemainingRuns"/>) remaining runs, only when its version is
    /// <paramref name="expectedVersion"/> (optimistic concurrency); the version becomes one more and the sequence new.
    /// Counters are left as they are. When the spec changes (another <see cref="StoredSchedule.SpecSince"/>), the old
    /// spec's watermark (<see cref="WatermarkNames.OfSpec(string, DateTimeOffset)"/>) is deleted in the same transaction.
    /// </summary>
    /// <param name="schedule">The new state.</param>
    /// <param name="expectedVersion">The version the caller read.</param>
    /// <param name="setRemainingRuns">True to store <see cref="StoredSchedule.RemainingRuns"/> too.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>False when the schedule is absent, deleted, or at another version.</returns>
    ValueTask<bool> UpdateScheduleAsync(StoredSchedule schedule, long expectedVersion, bool setRemainingRuns, CancellationToken cancellationToken);

    /// <summary>
    /// Marks a schedule deleted (with a new sequence, so other schedulers learn of it) and deletes its spec's watermark
    /// (<see cref="WatermarkNames.OfSpec(string, DateTimeOffset)"/>) in the same transaction; its runs are left alone.
    /// </summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="at">When (its update instant; a deleted schedule is forgotten by <see cref="PurgeAsync"/> after that).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>False when there was no such schedule (or it was deleted already).</returns>
    ValueTask<bool> DeleteScheduleAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// Adds to schedules' counters, and takes each change's <see cref="ScheduleCountChange.UsedRuns"/> from its remaining
    /// runs (never below zero; unlimited stays unlimited), all in one transaction; versions and sequences unchanged. A
    /// schedule may appear more than once (the changes add up); an absent or deleted schedule is left out.
    /// </summary>
    /// <param name="changes">The changes.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes when stored.</returns>
    ValueTask AddScheduleCountsAsync(IReadOnlyList<ScheduleCountChange> changes, CancellationToken cancellationToken);

    /// <summary>
    /// Takes the store's planning lock, waiting while another scheduler holds it, and returns what releases it. A
    /// scheduler holds it through each pass that creates recurring schedules' occurrences (it reads their watermarks and
    /// remaining runs, creates runs, decides about missed fire times, advances the watermarks and adds to the counters),
    /// so that two schedulers sharing the store never plan at the same moment: otherwise both could catch one schedule up
    /// and count its missed fire times twice, or together create more occurrences than its limit. A schedule's update,
    /// delete or re-applied code spec holds it from its write to the withdrawal of the occurrences made ahead, so no pass
    /// reads the schedule before the change and writes after it. A holder holds it for the few calls it makes; a holder that dies must not hold it for ever (a database session's lock ends with the
    /// session). The default implementation serializes the callers that share this store object in one process, which
    /// is enough for a store no other process uses; a store shared between processes overrides it with a lock they all
    /// see.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait (the lock is then not held).</param>
    /// <returns>Releases the lock when disposed (once; a second dispose does nothing).</returns>
    async ValueTask<IAsyncDisposable> EnterPlanningAsync(CancellationToken cancellationToken) =>
        await PlanningLocks.Of(this).EnterAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>Deletes ended runs (succeeded, failed, cancelled, skipped) that ended before a cut-off.</summary>
    /// <param name="endedBefore">The cut-off.</param>
    /// <param name="limit">The most runs to delete in this call.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many were deleted.</returns>
    /// <remarks>Also forgets schedules deleted before the cut-off.</remarks>
    ValueTask<int> PurgeAsync(DateTimeOffset endedBefore, int limit, CancellationToken cancellationToken);
}
