namespace Durable.Scheduling;

/// <summary>The six fields of an expression, in the order of the six-field format.</summary>
internal enum CronField
{
    Seconds = 0,
    Minutes = 1,
    Hours = 2,
    DaysOfMonth = 3,
    Months = 4,
    DaysOfWeek = 5,
}

/// <summary>Range and display name of each field.</summary>
internal static class CronFieldInfo
{
    private static readonly string[] s_names = ["Seconds", "Minutes", "Hours", "Days of month", "Months", "Days of week"];
    private static readonly int[] s_min = [0, 0, 0, 1, 1, 0];
    private static readonly int[] s_max = [59, 59, 23, 31, 12, 7];

    public static string Name(CronField field) => s_names[(int)field];

    public static int Min(CronField field) => s_min[(int)field];

    /// <summary>The largest value accepted in text (7 for days of week, which means Sunday like 0).</summary>
    public static int Max(CronField field) => s_max[(int)field];

    /// <summary>The largest value after normalization (6 for days of week).</summary>
    public static int CycleMax(CronField field) => field == CronField.DaysOfWeek ? 6 : s_max[(int)field];
}
