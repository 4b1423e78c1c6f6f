namespace Durable.Scheduling;

/// <summary>
/// Marks a method as a workflow with a code-defined recurring schedule:
/// <c>[Scheduled("*/30 * * * * *")]</c> (six fields, seconds first) or <c>[Scheduled("0 9 * * MON-FRI")]</c> (five).
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

    /// <summary>The cron expression.</summary>
    public string Cron { get; }

    /// <summary>The IANA (or Windows) time-zone id the expression is read in; default <c>"UTC"</c>.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>What happens to occurrences missed while the process was down; default <see cref="CatchUpPolicy.ExactlyOncePerInterval"/>.</summary>
    public CatchUpPolicy CatchUp { get; set; } = CatchUpPolicy.ExactlyOncePerInterval;

    /// <summary>What happens when an occurrence comes due while an earlier run is still active; default <see cref="OverlapPolicy.AllowAll"/>.</summary>
    public OverlapPolicy Overlap { get; set; } = OverlapPolicy.AllowAll;
}
