namespace Durable.Scheduling;

/// <summary>
/// Says how many fields a cron expression has, and so whether it starts with a seconds field.
/// </summary>
public enum CronFormat
{
    /// <summary>
    /// Five fields: minutes, hours, days of month, months, days of week. Occurrences fall on whole minutes
    /// (second 0). Six fields are rejected with a <see cref="CronFormatException"/>.
    /// </summary>
    Standard = 0,

    /// <summary>
    /// Six fields, seconds first: seconds, minutes, hours, days of month, months, days of week.
    /// Five fields are rejected with a <see cref="CronFormatException"/>.
    /// </summary>
    IncludeSeconds = 1,

    /// <summary>
    /// The field count decides: five fields are read as <see cref="Standard"/>, six as
    /// <see cref="IncludeSeconds"/>; any other count is rejected. Macros (<c>@daily</c>, <c>@every_second</c>) are
    /// accepted as they are. This is what <c>[Scheduled]</c> uses, so that both <c>"0 9 * * *"</c> and
    /// <c>"*/30 * * * * *"</c> work.
    /// </summary>
    Auto = 2,
}
