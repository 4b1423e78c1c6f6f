namespace Durable.Scheduling;

/// <summary>
/// A structured calendar time, read in the schedule's zone. Each field holds values, ranges and steps as in a cron
/// field: <c>"9"</c>, <c>"9-17"</c>, <c>"*/15"</c>, <c>"1,15"</c>, <c>"MON-FRI"</c>, <c>"JAN"</c>. An instant matches
/// when every field matches. Immutable.
/// </summary>
/// <remarks>
/// Unset fields: when the calendar fires, <see cref="Second"/>, <see cref="Minute"/> and <see cref="Hour"/> default to
/// <c>"0"</c> and the others to every value (so <c>new ScheduleCalendar { Hour = "9", DayOfWeek = "MON-FRI" }</c> fires
/// at 09:00:00 on weekdays); in <see cref="ScheduleSpec.Skip"/> every unset field matches every value. When both
/// <see cref="DayOfMonth"/> and <see cref="DayOfWeek"/> are set, a day must match both. DST as for cron (see
/// <see cref="ScheduleSpec"/>).
/// </remarks>
public sealed record ScheduleCalendar
{
    /// <summary>Seconds, 0-59.</summary>
    public string? Second { get; init; }

    /// <summary>Minutes, 0-59.</summary>
    public string? Minute { get; init; }

    /// <summary>Hours, 0-23.</summary>
    public string? Hour { get; init; }

    /// <summary>Days of the month, 1-31 (<c>L</c> for the last).</summary>
    public string? DayOfMonth { get; init; }

    /// <summary>Months, 1-12 or <c>JAN</c>-<c>DEC</c>.</summary>
    public string? Month { get; init; }

    /// <summary>Days of the week, 0-6 (Sunday is 0 or 7) or <c>SUN</c>-<c>SAT</c>.</summary>
    public string? DayOfWeek { get; init; }

    /// <summary>Years, 2000-2999: values, ranges and steps (<c>"2027"</c>, <c>"2027-2030"</c>, <c>"2028/4"</c>).</summary>
    public string? Year { get; init; }

    /// <summary>A note for people; not interpreted.</summary>
    public string? Comment { get; init; }
}
