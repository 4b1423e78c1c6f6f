using System.Reflection;
using System.Text.Json;

namespace Durable.Scheduling;

/// <summary>
/// Options of the scheduler, set with <c>services.AddScheduling(o => ...)</c>. Every value is validated when the host
/// starts; an invalid value stops start-up with an <see cref="Microsoft.Extensions.Options.OptionsValidationException"/>
/// naming it.
/// </summary>
public sealed class SchedulingOptions
{
    /// <summary>
    /// Assemblies scanned for <see cref="WorkflowAttribute"/> and <see cref="ScheduledAttribute"/> methods. When both
    /// this and <see cref="WorkflowTypes"/> are empty (the default), the entry assembly is scanned.
    /// </summary>
    public IList<Assembly> Assemblies { get; } = [];

    /// <summary>
    /// Types whose <see cref="WorkflowAttribute"/> and <see cref="ScheduledAttribute"/> methods are workflows, besides
    /// those of <see cref="Assemblies"/>: list them to pick workflows one class at a time (a library's, or a test's)
    /// without scanning a whole assembly. Empty by default.
    /// </summary>
    public IList<Type> WorkflowTypes { get; } = [];

    /// <summary>How many runs may execute at once in this process; default 64, from 1 to 100,000 (see <see cref="SchedulingLimits"/>).</summary>
    public int MaxConcurrency { get; set; } = 64;

    /// <summary>
    /// How far ahead recurring occurrences are created in the store (so that a short outage of this process loses
    /// nothing another instance could run); default 30 seconds, from 1 second to 1 day (see <see cref="SchedulingLimits"/>). Runs enter the in-memory timer
    /// wheel only two poll intervals before they fall due, so its memory is bounded by what falls due that soon.
    /// </summary>
    public TimeSpan LookAhead { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest the scheduler sleeps between checks of the store and of the wall clock; default 1 second, from
    /// 10 milliseconds to 10 minutes (see <see cref="SchedulingLimits"/>). A run added by another process, and a wall-clock jump (the wall clock moving
    /// unlike the monotonic clock), are noticed within it. Independent of <see cref="LeaseDuration"/>: leases are renewed
    /// on their own schedule.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a claimed run's lease lasts; renewed every third of it while the handler runs (on its own schedule,
    /// whatever <see cref="PollInterval"/> is). Default 30 seconds, from 1 second to 1 day. After a crash, another process (or the restarted one) takes the run over once it expires.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How far back missed occurrences of a recurring schedule are caught up after downtime; older ones are dropped
    /// and counted. Default 1 day, from zero to 366 days (see <see cref="SchedulingLimits"/>).
    /// </summary>
    public TimeSpan CatchUpWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// The most missed occurrences one schedule catches up at a time (the most recent ones); the rest are dropped and
    /// counted. Default 100, from 1 to 100,000 (see <see cref="SchedulingLimits"/>).
    /// </summary>
    public int MaxCatchUpRuns { get; set; } = 100;

    /// <summary>Attempts per run unless the workflow says otherwise; default 1 (no retry), from 1 to 1,000 (see <see cref="SchedulingLimits"/>).</summary>
    public int DefaultMaxAttempts { get; set; } = 1;

    /// <summary>First retry delay unless the workflow says otherwise, doubled per retry (a day at most); default 1 second, from zero to a day.</summary>
    public TimeSpan DefaultRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Time limit of one attempt unless the workflow says otherwise; default null (none), else up to 30 days
    /// (<see cref="SchedulingLimits.MaxTimeout"/>). At the limit the handler's token is cancelled; see
    /// <see cref="TimeoutGrace"/> for a handler that ignores it.
    /// </summary>
    public TimeSpan? DefaultTimeout { get; set; }

    /// <summary>
    /// How long a handler may go on after its timeout cancelled its token before its run is abandoned; default 10
    /// seconds, from zero to 1 day (see <see cref="SchedulingLimits"/>). A handler that returns within it is recorded by
    /// how it ends (a timeout when it gives up with <see cref="OperationCanceledException"/>, a success when it returns
    /// normally). One still running at its end has its run recorded <see cref="RunStatus.Failed"/> with a
    /// <see cref="TimeoutException"/> and no further attempt (the handler may still be doing the work); it keeps its
    /// concurrency slot, and counts for its schedule's overlap policy in this process, until it returns, and what it
    /// does then is not recorded. Applies only to workflows with a timeout.
    /// </summary>
    public TimeSpan TimeoutGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long ended runs (succeeded, failed, cancelled, skipped) are kept for <c>GetAsync</c> and <c>ListAsync</c>
    /// before they are purged; default 1 day; null keeps them forever. Mind the
    /// volume: a schedule firing every second ends 86,400 runs a day. Purging takes a batch (<see cref="BatchSize"/>)
    /// a minute, or up to ten batches each poll interval while whole batches come back, so it keeps up with up to ten
    /// batches of runs ending per poll interval (10,000 a second with the defaults).
    /// </summary>
    public TimeSpan? RunRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// A stable id for this scheduler instance, recorded with every lease it takes; default null, which gives each
    /// process start a new id naming this machine and process (on Linux: the host name, its boot, the process-id
    /// namespace, the user, the process id and start time), so a scheduler starting on the same machine as the same user
    /// sees when the process that held a lease is gone, and frees its runs at start-up (a process that crashed and was
    /// started again runs them at once). Set a value that is stable across restarts and unique among live instances (a machine or pod name): a
    /// restarted instance then frees, at start-up, the runs it held when it died, wherever it runs, instead of waiting up
    /// to <see cref="LeaseDuration"/> for their leases to expire. Two live processes must never share it. 1 to 200
    /// characters (see <see cref="SchedulingLimits"/>).
    /// </summary>
    public string? InstanceId { get; set; }

    /// <summary>
    /// Whether this process executes runs; default true. Set false in a process that only schedules and manages runs
    /// (a web front end beside a worker): <see cref="IScheduler"/> works the same, workflows are still discovered and
    /// validated at start-up (so names are checked at the call), the store is checked, but no run is claimed or
    /// executed here and no occurrence is created: the processes that execute do that.
    /// </summary>
    public bool ExecuteRuns { get; set; } = true;

    /// <summary>How many runs are read, claimed or completed per store call; default 1,000, from 1 to 100,000 (see <see cref="SchedulingLimits"/>).</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>
    /// The largest input a run may carry, in bytes of its JSON (UTF-16 characters count as bytes here); default 1 MiB,
    /// from 1 to 64 MiB (see <see cref="SchedulingLimits"/>). A larger input is refused at the call with an
    /// <see cref="ArgumentException"/> giving its size and this limit: inputs are stored with the run and read back at
    /// every attempt, so big payloads belong in your own storage, with a key in the input.
    /// </summary>
    public int MaxInputBytes { get; set; } = 1024 * 1024;

    /// <summary>How run inputs are written and read (System.Text.Json); default <see cref="JsonSerializerOptions.Web"/>.</summary>
    public JsonSerializerOptions JsonSerializerOptions { get; set; } = JsonSerializerOptions.Web;

    /// <summary>The workflows registered from code with <see cref="AddWorkflow"/>.</summary>
    internal List<(MethodInfo Method, WorkflowAttribute Attribute)> CodeWorkflows { get; } = [];

    /// <summary>
    /// Registers a method as a workflow from code, with the attribute it would otherwise carry: for a method you cannot
    /// mark, or to register one method several times (under different names, for example several schedules of one
    /// handler). Validated at start-up with the discovered ones.
    /// </summary>
    /// <param name="method">The method: static, or on a class resolved from DI; its signature follows the same rules.</param>
    /// <param name="attribute">A <see cref="WorkflowAttribute"/> or <see cref="ScheduledAttribute"/>; its
    /// <see cref="WorkflowAttribute.Name"/> must be set, so that each registration has its own name.</param>
    /// <returns>These options.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">The attribute's name is not set.</exception>
    public SchedulingOptions AddWorkflow(MethodInfo method, WorkflowAttribute attribute)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(attribute);
        if (string.IsNullOrEmpty(attribute.Name))
        {
            throw new ArgumentException("A workflow registered from code needs its Name set on the attribute.", nameof(attribute));
        }

        CodeWorkflows.Add((method, attribute));
        return this;
    }
}
