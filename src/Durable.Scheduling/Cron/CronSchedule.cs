using Durable.Scheduling.Cron;

namespace Durable.Scheduling;

/// <summary>
/// Cron expressions as this library reads them, for checking one or previewing its fire times before committing a
/// schedule. Expressions are evaluated by Cronos (its dialect and DST rules); this library adds
/// <see cref="CronFormat.Auto"/> and full month and day names (<c>January</c>, <c>Sunday</c>). Thread-safe.
/// </summary>
/// <remarks>
/// DST: a time that falls in a spring-forward gap fires once, when the gap ends; in a fall-back overlap, a fixed time
/// fires once (in the first pass) and an interval expression (a step or range in the seconds, minutes or hours field)
/// fires in both passes.
/// </remarks>
public static class CronSchedule
{
    /// <summary>The most occurrences <see cref="GetNextOccurrences"/> returns in one call.</summary>
    public const int MaxPreviewCount = 10_000;

    /// <summary>Checks an expression.</summary>
    /// <param name="expression">The expression.</param>
    /// <param name="format">How many fields it has; default <see cref="CronFormat.Auto"/>.</param>
    /// <exception cref="CronFormatException">The expression is invalid; the message names the field and quotes the text.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="format"/> is not a defined value.</exception>
    public static void Validate(string expression, CronFormat format = CronFormat.Auto) => CronSpec.Parse(expression, format);

    /// <summary>The expression in Cronos's normal form (five fields, or six with seconds first, as written; names and steps as numbers).</summary>
    /// <param name="expression">The expression.</param>
    /// <param name="format">How many fields it has; default <see cref="CronFormat.Auto"/>.</param>
    /// <returns>The normal form.</returns>
    /// <exception cref="CronFormatException">The expression is invalid.</exception>
    public static string Normalize(string expression, CronFormat format = CronFormat.Auto) => CronSpec.Parse(expression, format).ToString();

    /// <summary>The next fire times of an expression in a time zone, strictly after <paramref name="from"/>.</summary>
    /// <param name="expression">The expression.</param>
    /// <param name="zone">The time zone the expression is read in.</param>
    /// <param name="from">The instant to start after (any offset; compared as an instant).</param>
    /// <param name="count">How many, from 0 to <see cref="MaxPreviewCount"/>.</param>
    /// <param name="format">How many fields it has; default <see cref="CronFormat.Auto"/>.</param>
    /// <returns>Up to <paramref name="count"/> instants, each with the zone's offset at that instant; fewer when the
    /// expression has no more (for example a date that never comes again).</returns>
    /// <exception cref="CronFormatException">The expression is invalid.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="zone"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="count"/> is negative or above <see cref="MaxPreviewCount"/>.</exception>
    public static IReadOnlyList<DateTimeOffset> GetNextOccurrences(string expression, TimeZoneInfo zone, DateTimeOffset from, int count, CronFormat format = CronFormat.Auto)
    {
        ArgumentNullException.ThrowIfNull(zone);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxPreviewCount);
        var spec = CronSpec.Parse(expression, format);
        var result = new List<DateTimeOffset>(count);
        long ticks = from.UtcTicks;
        while (result.Count < count && (ticks = spec.NextUtc(ticks, zone, inclusive: false)) >= 0)
        {
            var utc = new DateTime(ticks, DateTimeKind.Utc);
            result.Add(new DateTimeOffset(utc).ToOffset(zone.GetUtcOffset(utc)));
        }

        return result;
    }
}
