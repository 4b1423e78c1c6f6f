namespace Durable.Scheduling;

/// <summary>
/// When a recurring schedule fires: the union of its <see cref="Cron"/> expressions, <see cref="Intervals"/> and
/// <see cref="Calendars"/>, minus every instant a <see cref="Skip"/> calendar matches, within
/// [<see cref="StartAt"/>, <see cref="EndAt"/>]. An instant produced by several sources fires once. Immutable.
/// </summary>
/// <remarks>
/// <para><b>Zones and DST.</b> Cron expressions and calendars are read in <see cref="TimeZone"/> (IANA id, default
/// <c>"UTC"</c>) by Cronos: a time in a spring-forward gap fires once, when the gap ends; in a fall-back overlap a
/// fixed time fires once and a step or range in the seconds, minutes or hours fires in both passes. Intervals are
/// absolute durations on the UTC time line, never shifted by DST (<c>1d</c> is always 24 hours).</para>
/// <para><b>Jitter.</b> Each occurrence starts up to <see cref="Jitter"/> after its instant, by an amount fixed per
/// schedule and occurrence (the same on every instance and after restarts). The occurrence keeps its instant: jitter
/// is never part of its idempotency key, nor of the fire times reported.</para>
/// <para>Validated when a schedule is created or updated, or previewed: see <see cref="ScheduleSpecException"/>.</para>
/// </remarks>
public sealed record ScheduleSpec
{
    /// <summary>Cron expressions (five fields, or six with seconds first; Cronos's dialect); default none.</summary>
    public IReadOnlyList<string> Cron { get; init; } = [];

    /// <summary>Fixed intervals on the UTC time line; default none.</summary>
    public IReadOnlyList<ScheduleInterval> Intervals { get; init; } = [];

    /// <summary>Structured calendar times, read in <see cref="TimeZone"/>; default none.</summary>
    public IReadOnlyList<ScheduleCalendar> Calendars { get; init; } = [];

    /// <summary>
    /// Exclusions: an instant whose local time (in <see cref="TimeZone"/>) matches any of these calendars does not fire.
    /// In a skip calendar an unset field matches every value (so <c>new ScheduleCalendar { Month = "12", DayOfMonth = "25" }</c>
    /// skips the whole of 25 December).
    /// </summary>
    public IReadOnlyList<ScheduleCalendar> Skip { get; init; } = [];

    /// <summary>The IANA (or Windows) time-zone id cron expressions and calendars are read in; default <c>"UTC"</c>.</summary>
    public string TimeZone { get; init; } = "UTC";

    /// <summary>No occurrence before this instant (inclusive); null: no bound.</summary>
    public DateTimeOffset? StartAt { get; init; }

    /// <summary>No occurrence after this instant (inclusive); null: no bound. Must not be before <see cref="StartAt"/>.</summary>
    public DateTimeOffset? EndAt { get; init; }

    /// <summary>Each occurrence starts up to this long after its instant (deterministic per occurrence); default zero.
    /// At most a day, and no longer than the shortest interval.</summary>
    public TimeSpan Jitter { get; init; }

    /// <summary>A spec of cron expressions.</summary>
    /// <param name="expressions">One or more cron expressions.</param>
    /// <returns>The spec, in UTC.</returns>
    public static ScheduleSpec FromCron(params string[] expressions) => new() { Cron = expressions };

    /// <summary>A spec of one interval.</summary>
    /// <param name="every">The interval, as <see cref="ScheduleInterval.Parse(string)"/> reads it (<c>"30s"</c>, <c>"5m"</c>, <c>"1h"</c>, <c>"1d"</c>).</param>
    /// <returns>The spec.</returns>
    public static ScheduleSpec FromInterval(string every) => new() { Intervals = [ScheduleInterval.Parse(every)] };
}
