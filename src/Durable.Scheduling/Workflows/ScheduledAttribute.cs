namespace Durable.Scheduling;

/// <summary>
/// Marks a method as a workflow with a code-defined recurring schedule:
/// <c>[Scheduled("*/30 * * * * *")]</c> (six fields, seconds first), <c>[Scheduled("0 9 * * MON-FRI")]</c> (five), or
/// <c>[Scheduled(Interval = "5m")]</c>. It is the schedule named after the workflow in <see cref="ISchedules"/>: it can be
/// paused, resumed, triggered and backfilled there; its spec is applied from code at every start.
/// </summary>
/// <remarks>
/// Every occurrence gets one run, identified by the workflow name and the occurrence's UTC instant, so an occurrence
/// runs once even across restarts and several processes. The schedule's watermark (the last occurrence handled) is
/// stored, so occurrences missed while the process was down are caught up per <see cref="CatchUp"/>. DST follows
/// Cronos (see <see cref="CronSchedule"/>): a time in a spring-forward gap fires once when the gap ends; in a fall-back
/// overlap, interval expressions fire in both passes and fixed times once.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class ScheduledAttribute : WorkflowAttribute
{
    /// <summary>Creates the attribute.</summary>
    /// <param name="cron">A cron expression of five fields, or six with seconds first (<see cref="CronFormat.Auto"/>).</param>
    public ScheduledAttribute(string cron)
    {
        Cron = cron;
    }

    /// <summary>Creates the attribute for an <see cref="Interval"/> schedule: <c>[Scheduled(Interval = "5m")]</c>.</summary>
    public ScheduledAttribute()
    {
    }

    /// <summary>The cron expression, or null for an <see cref="Interval"/> schedule.</summary>
    public string? Cron { get; }

    /// <summary>
    /// An interval instead of a cron expression (<c>"30s"</c>, <c>"5m"</c>, <c>"1h"</c>, <c>"1d"</c>; see
    /// <see cref="ScheduleInterval.Parse"/>), or null. The first run is immediate (when the schedule is first stored, at
    /// the first start, or at the whole second after it: a phase is whole seconds), then one every interval after it, on the UTC time line; the phase is kept across restarts.
    /// </summary>
    public string? Interval { get; set; }

    /// <summary>The IANA (or Windows) time-zone id the expression is read in; default <c>"UTC"</c>.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>What happens to occurrences missed while the process was down; default <see cref="CatchUpPolicy.ExactlyOncePerInterval"/>.</summary>
    public CatchUpPolicy CatchUp { get; set; } = CatchUpPolicy.ExactlyOncePerInterval;

    /// <summary>What happens when an occurrence comes due while an earlier run is still active; default <see cref="OverlapPolicy.AllowAll"/>.</summary>
    public OverlapPolicy Overlap { get; set; } = OverlapPolicy.AllowAll;
}
