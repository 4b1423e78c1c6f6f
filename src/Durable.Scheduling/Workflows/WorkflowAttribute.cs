namespace Durable.Scheduling;

/// <summary>
/// Marks a method as a workflow: a unit of work the scheduler can run, by one-time runs
/// (<see cref="IScheduler.ScheduleAsync(string, DateTimeOffset, object?, IReadOnlyDictionary{string, string}?, string?, CancellationToken)"/>)
/// and, with <see cref="ScheduledAttribute"/>, by a code-defined recurring schedule.
/// </summary>
/// <remarks>
/// <para>The method may be static, or an instance method of a class that is resolved from dependency injection
/// (or created with its constructor dependencies when not registered) in a new scope for each run.</para>
/// <para>Parameters are bound by type: <see cref="ScheduledRunContext"/>, <see cref="CancellationToken"/>
/// (cancelled on timeout, on shutdown and by <see cref="OverlapPolicy.CancelOther"/>), services that dependency
/// injection can resolve, and at most one other parameter, the typed input, deserialized from the run's JSON input
/// with System.Text.Json. The method returns <see cref="Task"/>, <see cref="ValueTask"/> or nothing.</para>
/// <para>Misuse (an unsupported signature, a duplicate name, an invalid cron expression or time zone) stops the host
/// at start-up with one <see cref="SchedulingConfigurationException"/> listing every bad method.</para>
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public class WorkflowAttribute : Attribute
{
    /// <summary>Marks a workflow named <c>Type.Method</c> (the declaring type's name, without namespace).</summary>
    public WorkflowAttribute()
    {
    }

    /// <summary>Marks a workflow with an explicit, stable name.</summary>
    /// <param name="name">The workflow name: letters, digits and <c>. - _ / :</c>, at most 200 characters.</param>
    public WorkflowAttribute(string name)
    {
        Name = name;
    }

    /// <summary>
    /// The stable workflow name that runs are stored under; default <c>Type.Method</c>. Renaming a workflow orphans
    /// its stored runs and watermark, so set an explicit name before refactoring.
    /// </summary>
    public string? Name { get; set; }

    /// <summary>
    /// How long one attempt may run before its <see cref="CancellationToken"/> is cancelled; the attempt then fails with
    /// a <see cref="TimeoutException"/> when the handler ends with <see cref="OperationCanceledException"/>. A handler
    /// that ignores its token holds its concurrency slot until it returns; returning normally within
    /// <see cref="SchedulingOptions.TimeoutGrace"/> of the cancellation records a success, and one still running when the
    /// grace ends has its run recorded as failed (abandoned, no further attempt). 0 (the default) uses
    /// <see cref="SchedulingOptions.DefaultTimeout"/>; at most 30 days (<see cref="SchedulingLimits.MaxTimeout"/>),
    /// checked at start-up.
    /// </summary>
    public double TimeoutSeconds { get; set; }

    /// <summary>
    /// How many attempts a run gets in all (first try plus retries) when the handler throws; 0 (the default) uses
    /// <see cref="SchedulingOptions.DefaultMaxAttempts"/>.
    /// </summary>
    public int MaxAttempts { get; set; }

    /// <summary>
    /// Delay before the first retry, doubled for each further retry (exponential backoff, a day at most); 0 (the default)
    /// uses <see cref="SchedulingOptions.DefaultRetryDelay"/>; at most a day (<see cref="SchedulingLimits.MaxRetryDelay"/>),
    /// checked at start-up.
    /// </summary>
    public double RetryDelaySeconds { get; set; }
}
