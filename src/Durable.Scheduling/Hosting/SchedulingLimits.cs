namespace Durable.Scheduling;

/// <summary>
/// The ranges <see cref="SchedulingOptions"/> and workflow attributes accept: what start-up validation checks and the
/// documentation states. A value outside its range stops start-up with an error naming the option.
/// </summary>
public static class SchedulingLimits
{
    /// <summary>Least <see cref="SchedulingOptions.MaxConcurrency"/> and <see cref="SchedulingOptions.BatchSize"/>.</summary>
    public const int MinCount = 1;

    /// <summary>Most <see cref="SchedulingOptions.MaxConcurrency"/>, <see cref="SchedulingOptions.BatchSize"/> and <see cref="SchedulingOptions.MaxCatchUpRuns"/>.</summary>
    public const int MaxCount = 100_000;

    /// <summary>Most attempts of a run (<see cref="SchedulingOptions.DefaultMaxAttempts"/>, <see cref="WorkflowAttribute.MaxAttempts"/>).</summary>
    public const int MaxAttempts = 1000;

    /// <summary>Longest workflow name and <see cref="SchedulingOptions.InstanceId"/>, in characters.</summary>
    public const int MaxNameLength = 200;

    /// <summary>Shortest <see cref="SchedulingOptions.PollInterval"/>.</summary>
    public static readonly TimeSpan MinPollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>Longest <see cref="SchedulingOptions.PollInterval"/>.</summary>
    public static readonly TimeSpan MaxPollInterval = TimeSpan.FromMinutes(10);

    /// <summary>Shortest <see cref="SchedulingOptions.LookAhead"/> and <see cref="SchedulingOptions.LeaseDuration"/>.</summary>
    public static readonly TimeSpan MinLookAheadOrLease = TimeSpan.FromSeconds(1);

    /// <summary>Longest <see cref="SchedulingOptions.LookAhead"/> and <see cref="SchedulingOptions.LeaseDuration"/>.</summary>
    public static readonly TimeSpan MaxLookAheadOrLease = TimeSpan.FromDays(1);

    /// <summary>Longest <see cref="SchedulingOptions.CatchUpWindow"/>.</summary>
    public static readonly TimeSpan MaxCatchUpWindow = TimeSpan.FromDays(366);

    /// <summary>
    /// The longest error message recorded with a run (<see cref="RunError.Message"/>), in characters: a handler's
    /// exception message beyond it is cut to this length, its last character an ellipsis (…). The log has it whole.
    /// </summary>
    public const int MaxErrorMessageLength = 4000;

    /// <summary>
    /// The longest idempotency key a run may be given (<c>ScheduleAsync</c>, <c>TriggerAsync</c>), in characters: it is
    /// stored and indexed with the run, and every store must be able to index the longest one (PostgreSQL indexes at most
    /// about 2,700 bytes). A longer key is refused at the call with an <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public const int MaxIdempotencyKeyLength = 500;

    /// <summary>
    /// Longest time limit of an attempt (<see cref="WorkflowAttribute.TimeoutSeconds"/>,
    /// <see cref="SchedulingOptions.DefaultTimeout"/>): 30 days (the timers that enforce it, grace included, reach about 49).
    /// </summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(30);

    /// <summary>
    /// Longest first retry delay (<see cref="WorkflowAttribute.RetryDelaySeconds"/>, <see cref="SchedulingOptions.DefaultRetryDelay"/>):
    /// one day, which is also the longest any retry waits.
    /// </summary>
    public static readonly TimeSpan MaxRetryDelay = TimeSpan.FromDays(1);

    /// <summary>Longest <see cref="SchedulingOptions.TimeoutGrace"/>.</summary>
    public static readonly TimeSpan MaxTimeoutGrace = TimeSpan.FromDays(1);

    /// <summary>The earliest time a run may be scheduled for (<c>2000-01-01T00:00:00Z</c>): earlier values (such as
    /// <c>default(DateTimeOffset)</c>) are mistakes and are refused at the call.</summary>
    public static readonly DateTimeOffset EarliestRunTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>The latest time a run may be scheduled for (<c>9000-01-01T00:00:00Z</c>): later values (such as
    /// <see cref="DateTimeOffset.MaxValue"/>) would never be due and are refused at the call.</summary>
    public static readonly DateTimeOffset LatestRunTime = new(9000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Most <see cref="SchedulingOptions.MaxInputBytes"/>.</summary>
    public const int MaxInputBytesLimit = 64 * 1024 * 1024;
}
