namespace Durable.Scheduling;

/// <summary>Special day rules and DST behaviour of a parsed expression.</summary>
[Flags]
internal enum CronFlags : byte
{
    None = 0,

    /// <summary>Days of month is <c>L</c> or <c>L-n</c>: the last day, less an offset.</summary>
    DayOfMonthLast = 1,

    /// <summary>Days of month ends in <c>W</c>: the weekday nearest the given day, within the month.</summary>
    NearestWeekday = 2,

    /// <summary>Days of week is <c>nL</c>: the last given weekday of the month.</summary>
    DayOfWeekLast = 4,

    /// <summary>Days of week is <c>n#k</c>: the k-th given weekday of the month.</summary>
    NthDayOfWeek = 8,

    /// <summary>
    /// The seconds, minutes or hours field was written with <c>*</c>, a range or a step and matches more than one
    /// value: the expression fires in both passes of a DST fall-back overlap.
    /// </summary>
    Interval = 16,

    /// <summary>Days of month matches every day (no restriction).</summary>
    DayOfMonthStar = 32,

    /// <summary>Days of week matches every day (no restriction).</summary>
    DayOfWeekStar = 64,
}
