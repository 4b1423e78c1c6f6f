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
    private Func<IServiceProvider, ISchedulingStore>? _storeFactory;

    /// <summary>
    /// Assemblies scanned for <see cref="WorkflowAttribute"/> and <see cref="ScheduledAttribute"/> methods. Empty (the
    /// default) means the entry assembly.
    /// </summary>
    public IList<Assembly> Assemblies { get; } = [];

    /// <summary>How many runs may execute at once in this process; default 64, from 1 to 100,000.</summary>
    public int MaxConcurrency { get; set; } = 64;

    /// <summary>
    /// How far ahead recurring occurrences are created in the store (so that a short outage of this process loses
    /// nothing another instance could run); default 30 seconds, from 1 second to 1 day. Runs enter the in-memory timer
    /// wheel only two poll intervals before they fall due, so its memory is bounded by what falls due that soon.
    /// </summary>
    public TimeSpan LookAhead { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The longest the scheduler sleeps between checks of the store and of the wall clock; default 1 second, from
    /// 10 milliseconds to 10 minutes. A wall-clock jump, or a run added by another process, is noticed within it.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a claimed run's lease lasts; renewed at a third of it while the handler runs. Default 30 seconds, from
    /// 1 second to 1 day. After a crash, another process (or the restarted one) takes the run over once it expires.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How far back missed occurrences of a recurring schedule are caught up after downtime; older ones are dropped
    /// and counted. Default 1 day, from zero to 366 days.
    /// </summary>
    public TimeSpan CatchUpWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// The most missed occurrences one schedule catches up at a time (the most recent ones); the rest are dropped and
    /// counted. Default 100, from 1 to 100,000.
    /// </summary>
    public int MaxCatchUpRuns { get; set; } = 100;

    /// <summary>Attempts per run unless the workflow says otherwise; default 1 (no retry), from 1 to 1,000.</summary>
    public int DefaultMaxAttempts { get; set; } = 1;

    /// <summary>First retry delay unless the workflow says otherwise, doubled per retry; default 1 second.</summary>
    public TimeSpan DefaultRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Time limit of one attempt unless the workflow says otherwise; default null (none).</summary>
    public TimeSpan? DefaultTimeout { get; set; }

    /// <summary>
    /// How long ended runs (succeeded, failed, cancelled, skipped) are kept for <c>GetAsync</c> and <c>ListAsync</c>
    /// before they are purged; default 1 day (as Hangfire keeps succeeded jobs); null keeps them forever. Mind the
    /// volume: a schedule firing every second ends 86,400 runs a day. Purging takes a batch (<see cref="BatchSize"/>)
    /// a minute, or up to ten batches each poll interval while whole batches come back, so it keeps up with up to ten
    /// batches of runs ending per poll interval (10,000 a second with the defaults).
    /// </summary>
    public TimeSpan? RunRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// A stable id for this scheduler instance, recorded with every lease it takes; default null, which gives each
    /// process start a new random id. Set a value that is stable across restarts and unique among live instances (a
    /// machine or pod name): a restarted instance then frees, at start-up, the runs it held when it died, instead of
    /// waiting up to <see cref="LeaseDuration"/> for their leases to expire. Two live processes must never share it.
    /// 1 to 200 characters.
    /// </summary>
    public string? InstanceId { get; set; }

    /// <summary>How many runs are read, claimed or completed per store call; default 1,000, from 1 to 100,000.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>How run inputs are written and read (System.Text.Json); default <see cref="JsonSerializerOptions.Web"/>.</summary>
    public JsonSerializerOptions JsonSerializerOptions { get; set; } = JsonSerializerOptions.Web;

    internal Func<IServiceProvider, ISchedulingStore>? StoreFactory => _storeFactory;

    /// <summary>
    /// Workflows added besides discovery: a method with the attribute to apply to it (its <see cref="WorkflowAttribute.Name"/>
    /// must be set). Benchmarks use it to register many schedules of one method; validated like discovered ones.
    /// </summary>
    internal List<(MethodInfo Method, WorkflowAttribute Attribute)> ExtraWorkflows { get; } = [];

    /// <summary>Limits discovery to some types of the scanned assemblies (tests use it to pick their workflows).</summary>
    internal Func<Type, bool>? TypeFilter { get; set; }

    /// <summary>Stores runs in a store of your own (or a storage package's); the last call wins.</summary>
    /// <param name="factory">Creates the store, once, from the application's services.</param>
    /// <returns>These options.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    public SchedulingOptions UseStore(Func<IServiceProvider, ISchedulingStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        _storeFactory = factory;
        return this;
    }

    /// <summary>Stores runs in memory (the default): fast, but lost with the process.</summary>
    /// <returns>These options.</returns>
    public SchedulingOptions UseInMemoryStore()
    {
        _storeFactory = static _ => new InMemorySchedulingStore();
        return this;
    }
}
