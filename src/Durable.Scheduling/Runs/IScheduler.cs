namespace Durable.Scheduling;

/// <summary>
/// Schedules and manages one-time runs. Registered by <c>AddScheduling</c>; thread-safe. Every member returns a
/// <see cref="ValueTask"/> or <see cref="ValueTask{TResult}"/>: await each once (or call <c>AsTask()</c> to await it
/// more than once or to combine calls with <see cref="Task.WhenAll(Task[])"/>). Every instant is taken as a
/// <see cref="DateTimeOffset"/> and stored and returned in UTC. Besides the exceptions listed per member, any call may
/// fail with the store's <see cref="IOException"/> (database unreachable, disk full) or <see cref="TimeoutException"/>
/// (database locked too long), in which case it changed nothing.
/// </summary>
public interface IScheduler
{
    /// <summary>
    /// Schedules a one-time run of a workflow. A run due now or in the past runs as soon as possible; a run due while
    /// the process is down runs at the next start-up.
    /// </summary>
    /// <param name="workflow">The workflow name (see <see cref="WorkflowAttribute.Name"/>).</param>
    /// <param name="runAt">When to run it.</param>
    /// <param name="input">The input: an instance of the workflow's input type, or a <see cref="System.Text.Json.JsonElement"/> that reads as one (JSON from elsewhere, kept as it is); serialized to JSON now with <see cref="SchedulingOptions.JsonSerializerOptions"/>; or null.</param>
    /// <param name="metadata">Metadata to store with the run and filter on; or null.</param>
    /// <param name="idempotencyKey">
    /// A key that makes the call idempotent: a second call with the same workflow and key returns the existing run
    /// (whatever its time, input or status) instead of creating one. Null (the default) always creates a new run. 1 to
    /// <see cref="SchedulingLimits.MaxIdempotencyKeyLength"/> characters.
    /// </param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>
    /// The stored run (the existing one when the key existed). A <see cref="ValueTask{TResult}"/>: a store that answers at once (the in-memory one) allocates no task per call. Await it once;
    /// call <see cref="ValueTask{TResult}.AsTask"/> to await it more than once or to combine calls with
    /// <see cref="Task.WhenAll(Task[])"/>.
    /// </returns>
    /// <exception cref="ArgumentException">The workflow is unknown, a metadata key is empty, the key is empty, or the input
    /// is larger than <see cref="SchedulingOptions.MaxInputBytes"/> (thrown by the call itself, before any task is
    /// returned).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="runAt"/> is before
    /// <see cref="SchedulingLimits.EarliestRunTime"/> or after <see cref="SchedulingLimits.LatestRunTime"/>, or the key is
    /// longer than <see cref="SchedulingLimits.MaxIdempotencyKeyLength"/>.</exception>
    /// <exception cref="NotSupportedException">The input cannot be serialized to JSON (the inner exception says why).</exception>
    ValueTask<ScheduledRun> ScheduleAsync(string workflow, DateTimeOffset runAt, object? input = null, IReadOnlyDictionary<string, string>? metadata = null, string? idempotencyKey = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Schedules a one-time run, as <see cref="ScheduleAsync(string, DateTimeOffset, object?, IReadOnlyDictionary{string, string}?, string?, CancellationToken)"/>,
    /// and says whether this call created it or found the run already stored under the request's idempotency key.
    /// </summary>
    /// <param name="request">The run.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The stored run and whether this call created it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="request"/> is null.</exception>
    /// <exception cref="ArgumentException">As for the other overload.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The request's time is outside the accepted range.</exception>
    /// <exception cref="NotSupportedException">The input cannot be serialized to JSON.</exception>
    ValueTask<ScheduleResult> EnsureScheduledAsync(RunRequest request, CancellationToken cancellationToken = default);

    /// <summary>Schedules many one-time runs with one store call per batch.</summary>
    /// <remarks>
    /// Every request is checked before anything is stored. The batches (<see cref="SchedulingOptions.BatchSize"/> runs
    /// each) then go to the store several at a time, so a store that commits queued writes together (SQLite) writes
    /// them in fewer transactions. When a batch fails the call throws once every batch sent has finished, and the runs of
    /// the others may be stored, including some after the one that failed: give each request an idempotency key to make
    /// a retry safe.
    /// </remarks>
    /// <param name="runs">The runs.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The stored runs, in order.</returns>
    /// <exception cref="ArgumentException">A request names an unknown workflow, has invalid metadata or key, or too large an input.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A request's time is outside <see cref="SchedulingLimits.EarliestRunTime"/> to <see cref="SchedulingLimits.LatestRunTime"/>.</exception>
    /// <exception cref="NotSupportedException">An input cannot be serialized to JSON.</exception>
    ValueTask<IReadOnlyList<ScheduledRun>> ScheduleManyAsync(IEnumerable<RunRequest> runs, CancellationToken cancellationToken = default);

    /// <summary>Gets a run.</summary>
    /// <param name="id">The run id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The run, or null.</returns>
    ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Lists runs (one-time runs and recurring occurrences) by filter, a page at a time.</summary>
    /// <param name="query">The filter and paging.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A page ordered by scheduled time, then id.</returns>
    /// <exception cref="ArgumentException">The continuation token is not one this store issued.</exception>
    ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes a run that is not running (pending runs are cancelled; ended runs leave the history). A pending
    /// occurrence of a recurring schedule is not removed but recorded as skipped by the user, so it is never created
    /// again.
    /// </summary>
    /// <param name="id">The run id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>True when deleted; false when there was no such run.</returns>
    /// <exception cref="ScheduledRunStateException">The run is running.</exception>
    ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Deletes runs by id; running runs are left alone; pending occurrences are recorded as skipped (see <see cref="DeleteAsync"/>).</summary>
    /// <param name="ids">The run ids.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many were deleted.</returns>
    ValueTask<int> BulkDeleteAsync(IEnumerable<Guid> ids, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes every run matching a filter (workflow, statuses, metadata, time range, kinds, orphaned) that is not
    /// running. Occurrences of recurring schedules only when <see cref="RunQuery.Kinds"/> lists
    /// <see cref="RunKind.Occurrence"/>: pending ones are then recorded as skipped by the user, ended ones deleted.
    /// </summary>
    /// <param name="filter">The filter; paging is ignored. An empty filter deletes every one-time run that is not running.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>How many were deleted.</returns>
    ValueTask<int> BulkDeleteAsync(RunQuery filter, CancellationToken cancellationToken = default);

    /// <summary>Moves a pending run to a new time.</summary>
    /// <param name="id">The run id.</param>
    /// <param name="runAt">The new time.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The rescheduled run.</returns>
    /// <exception cref="ScheduledRunNotFoundException">The run does not exist.</exception>
    /// <exception cref="ScheduledRunStateException">The run has triggered (is running or ended).</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="runAt"/> is outside <see cref="SchedulingLimits.EarliestRunTime"/> to <see cref="SchedulingLimits.LatestRunTime"/>.</exception>
    ValueTask<ScheduledRun> RescheduleAsync(Guid id, DateTimeOffset runAt, CancellationToken cancellationToken = default);

    /// <summary>Moves pending runs to new times, all or nothing.</summary>
    /// <param name="changes">Run ids with their new times.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The rescheduled runs, in order.</returns>
    /// <exception cref="ScheduledRunNotFoundException">Every refused run does not exist; nothing was changed.</exception>
    /// <exception cref="ScheduledRunStateException">A run has triggered (its <see cref="ScheduledRunStateException.Refused"/>
    /// also lists any that do not exist); nothing was changed.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A new time is outside <see cref="SchedulingLimits.EarliestRunTime"/> to <see cref="SchedulingLimits.LatestRunTime"/>; nothing was changed.</exception>
    ValueTask<IReadOnlyList<ScheduledRun>> BulkRescheduleAsync(IEnumerable<RunTimeChange> changes, CancellationToken cancellationToken = default);


    /// <summary>The recurring schedules (create, describe, list, pause, trigger, backfill, update, delete, preview).</summary>
    ISchedules Schedules { get; }
}
