using System.Globalization;

namespace Durable.Scheduling;

/// <summary>
/// A fixed interval on the UTC time line: fires at every instant <c>Unix epoch + Offset + k × Every</c>. DST never
/// shifts it. With a zero offset, <c>1h</c> fires on the hour and <c>1d</c> at 00:00 UTC; <c>1d</c> with offset
/// <c>9h</c> fires at 09:00 UTC.
/// </summary>
/// <param name="Every">The interval: at least one second, whole seconds.</param>
/// <param name="Offset">The phase: from zero up to (not including) <paramref name="Every"/>, whole seconds.</param>
public sealed record ScheduleInterval(TimeSpan Every, TimeSpan Offset = default)
{
    /// <summary>
    /// Reads <c>"30s"</c>, <c>"5m"</c>, <c>"1h"</c>, <c>"1d"</c> (a positive whole number and a unit), optionally
    /// followed by <c>"/"</c> and an offset in the same form (<c>"1d/9h"</c>).
    /// </summary>
    /// <param name="text">The interval.</param>
    /// <returns>The interval.</returns>
    /// <exception cref="ScheduleSpecException">The text is not of that form; the message quotes it.</exception>
    public static ScheduleInterval Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        var every = ParseDuration(slash < 0 ? text : text[..slash], text, allowZero: false);
        var offset = slash < 0 ? TimeSpan.Zero : ParseDuration(text[(slash + 1)..], text, allowZero: true);
        return new ScheduleInterval(every, offset);
    }

    /// <summary>The interval as <see cref="Parse"/> reads it (<c>"5m"</c>, <c>"1d/9h"</c>).</summary>
    /// <returns>The text.</returns>
    public override string ToString() => Format(Every) + (Offset == TimeSpan.Zero ? "" : "/" + Format(Offset));

    private static TimeSpan ParseDuration(string part, string whole, bool allowZero)
    {
        part = part.Trim();
        if (part.Length >= 2 && long.TryParse(part.AsSpan(0, part.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long n) && (n > 0 || allowZero))
        {
            long seconds = char.ToLowerInvariant(part[^1]) switch
            {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86400,
                _ => 0,
            };
            if (seconds > 0 && n <= 100L * 366 * 86400 / seconds)
            {
                return TimeSpan.FromSeconds(n * seconds);
            }
        }

        throw new ScheduleSpecException("Intervals", $"'{whole}' is not an interval: write a positive whole number and a unit s, m, h or d ('30s', '5m', '1h', '1d'), optionally '/' and an offset ('1d/9h').");
    }

    private static string Format(TimeSpan value)
    {
        long s = (long)value.TotalSeconds;
        return s % 86400 == 0 && s > 0 ? $"{s / 86400}d" : s % 3600 == 0 && s > 0 ? $"{s / 3600}h" : s % 60 == 0 && s > 0 ? $"{s / 60}m" : $"{s}s";
    }
}
