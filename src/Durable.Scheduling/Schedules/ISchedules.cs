namespace Durable.Scheduling;

/// <summary>
/// Recurring schedules managed while the application runs: create, describe, list, pause, resume, trigger, backfill,
/// update, delete and preview. Code-defined schedules (<c>[Scheduled]</c>) appear here too. Registered in DI by
/// <c>AddScheduling</c> (and reachable as <see cref="IScheduler.Schedules"/>). Thread-safe.
/// </summary>
/// <remarks>
/// <para><b>Exactly-once.</b> Each occurrence is one run keyed <c>schedule@UTC instant</c> (a code-defined schedule's
/// id is its workflow's name, so its keys are unchanged); a trigger is keyed <c>schedule!key</c>, which no occurrence
/// key can equal.</para>
/// <para><b>Across instances.</b> A change made here is handed to this process's loop before the call returns and
/// applies from its next pass; other instances sharing the store follow within one
/// <see cref="SchedulingOptions.PollInterval"/>. Runs already claimed (the scheduler claims a run up to a few
/// milliseconds before its instant) or running are never stopped by a pause, update or delete.</para>
/// <para><b>Errors.</b> An invalid definition throws <see cref="ScheduleSpecException"/> naming the field, and nothing
/// is stored; an unknown id <see cref="ScheduleNotFoundException"/>; a refused operation <see cref="ScheduleStateException"/>.</para>
/// </remarks>
public interface ISchedules
{
    /// <summary>Creates a schedule; its first occurrence is the first fire time after now (or after <see cref="ScheduleSpec.StartAt"/>).</summary>
    /// <param name="definition">The definition.</param>
    /// <param name="paused">Create it paused; default false.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Its description.</returns>
    /// <exception cref="ScheduleSpecException">The definition is invalid (bad cron, unknown zone or workflow, wrong input...).</exception>
    /// <exception cref="ScheduleStateException">The id exists (<see cref="ScheduleRefusal.AlreadyExists"/>).</exception>
    ValueTask<ScheduleDescription> CreateAsync(ScheduleDefinition definition, bool paused = false, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates the schedule, or brings an existing one to this definition, keeping its state (pause, note, counters,
    /// what it has run). Idempotent: what an application calls at every start-up. An unchanged definition changes nothing.
    /// </summary>
    /// <param name="definition">The definition.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Its description.</returns>
    /// <exception cref="ScheduleSpecException">The definition is invalid.</exception>
    /// <exception cref="ScheduleStateException">The id is a code-defined schedule's.</exception>
    ValueTask<ScheduleDescription> CreateOrUpdateAsync(ScheduleDefinition definition, CancellationToken cancellationToken = default);

    /// <summary>Describes a schedule.</summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="nextFireTimes">How many next fire times to compute (0 to 1,000); default 10.</param>
    /// <param name="recentRuns">How many recent runs to include (0 to 1,000); default 10.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The description.</returns>
    /// <exception cref="ScheduleNotFoundException">No such schedule.</exception>
    ValueTask<ScheduleDescription> DescribeAsync(string id, int nextFireTimes = 10, int recentRuns = 10, CancellationToken cancellationToken = default);

    /// <summary>Lists schedules, ordered by id, one page at a time, each with its next fire time and counters.</summary>
    /// <param name="query">The filter and paging.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    ValueTask<SchedulePage> ListAsync(ScheduleQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Pauses a schedule: no occurrence runs until it is resumed (runs running go on). Survives restarts. Pausing a
    /// paused schedule only replaces the note.
    /// </summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="note">Why, for people; null for none.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes once the pause holds.</returns>
    /// <exception cref="ScheduleNotFoundException">No such schedule.</exception>
    ValueTask PauseAsync(string id, string? note = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Resumes a paused schedule. The occurrences that fell while it was paused are missed occurrences, handled by its
    /// <see cref="ScheduleDefinition.CatchUp"/> policy within its window, exactly as after downtime (with the default,
    /// each runs once; with <see cref="CatchUpPolicy.ExactlyOncePerIntervalWhenActive"/>, none does). Occurrences made
    /// ahead that fell in the pause and that the policy drops are skipped (and counted missed) before the schedule is
    /// active again, so no instance sharing the store starts one; the call waits for the store's planning lock to do so.
    /// </summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="note">Why, for people; null for none.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>A task that completes once resumed.</returns>
    /// <exception cref="ScheduleNotFoundException">No such schedule.</exception>
    ValueTask ResumeAsync(string id, string? note = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs the schedule's workflow now (with its input and metadata), also while paused. It counts as a run of the
    /// schedule for its overlap policy, unless <paramref name="overlap"/> gives another (for example
    /// <see cref="OverlapPolicy.AllowAll"/> to run it whatever is active).
    /// </summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="overlap">The overlap policy for this run; null: the schedule's.</param>
    /// <param name="idempotencyKey">A key that makes the call idempotent (a second call returns the first run); null: a new run each call. 1 to <see cref="SchedulingLimits.MaxIdempotencyKeyLength"/> characters.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The run (the existing one when the key was used before).</returns>
    /// <exception cref="ScheduleNotFoundException">No such schedule.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The key is longer than <see cref="SchedulingLimits.MaxIdempotencyKeyLength"/>.</exception>
    ValueTask<ScheduledRun> TriggerAsync(string id, OverlapPolicy? overlap = null, string? idempotencyKey = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs each fire time of the schedule in [<paramref name="rangeStart"/>, <paramref name="rangeEnd"/>) (start inclusive, end
    /// exclusive, both in the past) that has not run: a fire time whose occurrence exists (pending, running or ended
    /// other than skipped) is left as it is and its run returned; one never created, or skipped, runs once. A second
    /// identical backfill creates nothing new. Runs also while paused, started in the order of their instants.
    /// </summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="rangeStart">The range's start (inclusive).</param>
    /// <param name="rangeEnd">The range's end (exclusive); not after now.</param>
    /// <param name="overlap">The overlap policy among these runs; null: the schedule's (<see cref="OverlapPolicy.BufferAll"/> runs them one after another).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The run ids, in the order of their fire times (at most 10,000 fire times per call).</returns>
    /// <exception cref="ScheduleNotFoundException">No such schedule.</exception>
    /// <exception cref="ArgumentException">The range is empty, reversed, in the future or holds more than 10,000 fire times.</exception>
    /// <exception cref="ArgumentOutOfRangeException">The range starts before <see cref="SchedulingLimits.EarliestRunTime"/>.</exception>
    ValueTask<IReadOnlyList<Guid>> BackfillAsync(string id, DateTimeOffset rangeStart, DateTimeOffset rangeEnd, OverlapPolicy? overlap = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Updates a schedule through a callback given the current definition; return the new definition, or null to
    /// change nothing. When another update lands between the read and the write, the callback runs again on the newer
    /// definition (up to 10 times, then <see cref="ScheduleStateException"/> with <see cref="ScheduleRefusal.Conflict"/>).
    /// A changed spec, workflow, input or metadata applies from now: occurrences created ahead under the old definition
    /// and not started are withdrawn (a limited schedule gets them back), and this process creates none of the schedule's
    /// occurrences meanwhile. A changed <see cref="ScheduleDefinition.MaxRuns"/> counts the runs used when it is written:
    /// when some were used after the callback read the definition, the callback runs again.
    /// </summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="update">The callback; it must keep the id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The description after the update.</returns>
    /// <exception cref="ScheduleNotFoundException">No such schedule.</exception>
    /// <exception cref="ScheduleSpecException">The new definition is invalid.</exception>
    /// <exception cref="ScheduleStateException">A code-defined schedule, or a conflict that did not settle.</exception>
    ValueTask<ScheduleDescription> UpdateAsync(string id, Func<ScheduleDefinition, ScheduleDefinition?> update, CancellationToken cancellationToken = default);

    /// <summary>Deletes a schedule: its pending occurrences are withdrawn at once and none is created again; running runs go on.</summary>
    /// <param name="id">The schedule id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>False when there was no such schedule.</returns>
    /// <exception cref="ScheduleStateException">A code-defined schedule (remove its attribute instead).</exception>
    ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// The next fire times of a spec, computed without creating anything, each marked when a DST gap moved it or a
    /// DST overlap doubled it.
    /// </summary>
    /// <param name="spec">The spec.</param>
    /// <param name="count">How many (0 to 10,000).</param>
    /// <param name="from">After this instant (exclusive); null: now.</param>
    /// <returns>The fire times.</returns>
    /// <exception cref="ScheduleSpecException">The spec is invalid.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or over 10,000, or <paramref name="from"/> is outside <see cref="SchedulingLimits.EarliestRunTime"/> to <see cref="SchedulingLimits.LatestRunTime"/>.</exception>
    IReadOnlyList<FireTime> Preview(ScheduleSpec spec, int count, DateTimeOffset? from = null);
}
