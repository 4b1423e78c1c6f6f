using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Durable.Scheduling.Cron;

/// <summary>
/// A parsed cron expression: a thin layer over Cronos, which evaluates it (dialect, DST rules). This layer only
/// decides the field count for <see cref="CronFormat.Auto"/>, turns full month and day names (<c>January</c>,
/// <c>Sunday</c>) into the three-letter names Cronos reads, and reports errors as <see cref="CronFormatException"/>
/// naming the field. Immutable and thread-safe.
/// </summary>
internal sealed class CronSpec : IEquatable<CronSpec>
{
    private static readonly string[] s_fieldNames = ["Seconds", "Minutes", "Hours", "Days of month", "Months", "Days of week"];

    private readonly Cronos.CronExpression _cron;

    private CronSpec(Cronos.CronExpression cron) => _cron = cron;

    /// <summary>The parsed expression (a schedule's compiled spec keeps only this).</summary>
    internal Cronos.CronExpression Expression => _cron;

    /// <summary>Parses an expression.</summary>
    /// <exception cref="CronFormatException">The expression is invalid; the message names the field and quotes it.</exception>
    public static CronSpec Parse(string? expression, CronFormat format = CronFormat.Auto)
    {
        if (string.IsNullOrWhiteSpace(expression))
        {
            throw new CronFormatException(null, "the cron expression is empty.", null);
        }

        if (!Enum.IsDefined(format))
        {
            throw new ArgumentOutOfRangeException(nameof(format), format, "Not a defined CronFormat.");
        }

        string[] fields = expression.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        var cronosFormat = ResolveFormat(expression, fields, format);
        string normalized = Normalize(expression, fields);
        try
        {
            return new CronSpec(Cronos.CronExpression.Parse(normalized, cronosFormat));
        }
        catch (Cronos.CronFormatException e)
        {
            throw Describe(expression, e.Message, e);
        }
        catch (Cronos.MissingSeedException e)
        {
            // Cronos's hashed values (H) need a seed per schedule; no user of this library asked for them.
            throw Describe(expression, "'H' (hashed values) is not supported: write the value.", e);
        }
    }

    /// <summary>Parses an expression, or returns false (with no exception) when it is invalid.</summary>
    public static bool TryParse(string? expression, CronFormat format, [NotNullWhen(true)] out CronSpec? spec)
    {
        try
        {
            spec = Parse(expression, format);
            return true;
        }
        catch (CronFormatException)
        {
            spec = null;
            return false;
        }
    }

    /// <summary>The next occurrence after (or at, when inclusive) a UTC instant in ticks, or -1 when there is none.</summary>
    public long NextUtc(long fromUtcTicks, TimeZoneInfo zone, bool inclusive) => NextUtc(_cron, fromUtcTicks, zone, inclusive);

    /// <summary>The next occurrence of a parsed expression after (or at, when inclusive) a UTC instant in ticks, or -1 when there is none.</summary>
    internal static long NextUtc(Cronos.CronExpression cron, long fromUtcTicks, TimeZoneInfo zone, bool inclusive)
    {
        try
        {
            var next = cron.GetNextOccurrence(new DateTime(fromUtcTicks, DateTimeKind.Utc), zone, inclusive);
            return next?.Ticks ?? -1;
        }
        catch (ArgumentOutOfRangeException) when (fromUtcTicks >= s_lastYearTicks)
        {
            // The search stepped past DateTime.MaxValue (a zone's offset, the next day): there is no later fire time.
            return -1;
        }
    }

    private static readonly long s_lastYearTicks = new DateTime(9999, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;

    /// <summary>The next occurrence after (or at, when inclusive) a UTC instant, or null.</summary>
    public DateTime? GetNextOccurrence(DateTime fromUtc, TimeZoneInfo zone, bool inclusive = false) =>
        _cron.GetNextOccurrence(fromUtc, zone, inclusive);

    /// <summary>The previous occurrence before (or at, when inclusive) a UTC instant, or null.</summary>
    public DateTime? GetPreviousOccurrence(DateTime fromUtc, TimeZoneInfo zone, bool inclusive = false) =>
        _cron.GetPreviousOccurrence(fromUtc, zone, inclusive);

    /// <summary>The normal form Cronos prints (as many fields as the format, names as numbers).</summary>
    public override string ToString() => _cron.ToString();

    /// <inheritdoc />
    public bool Equals(CronSpec? other) => other is not null && _cron.Equals(other._cron);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as CronSpec);

    /// <inheritdoc />
    public override int GetHashCode() => _cron.GetHashCode();

    /// <summary>True when Cronos, given the same text in the same format, parses an equal expression.</summary>
    internal bool SameAsCronos(string expression, Cronos.CronFormat format) =>
        Cronos.CronExpression.TryParse(expression, format, out var cronos) && cronos.Equals(_cron);

    private static Cronos.CronFormat ResolveFormat(string expression, string[] fields, CronFormat format)
    {
        if (fields[0].StartsWith('@'))
        {
            // A macro: Cronos reads it in either format, with seconds (@every_second) where it says so.
            return Cronos.CronFormat.IncludeSeconds;
        }

        int expected = format switch
        {
            CronFormat.Standard => 5,
            CronFormat.IncludeSeconds => 6,
            _ => fields.Length is 5 or 6 ? fields.Length : -1,
        };
        if (fields.Length != expected)
        {
            // In an explicit format Cronos names the field where the text ran out (or the first it cannot read).
            string cronosSays = expected == -1 ? "" : " " + CronosError(expression, expected == 6 ? Cronos.CronFormat.IncludeSeconds : Cronos.CronFormat.Standard);
            string wanted = expected == -1 ? "5 fields (minutes first) or 6 (seconds first)" : expected + " fields";
            throw new CronFormatException(null, $"'{expression.Trim()}' has {fields.Length} fields; expected {wanted}.{cronosSays.TrimEnd()}", null);
        }

        return expected == 6 ? Cronos.CronFormat.IncludeSeconds : Cronos.CronFormat.Standard;
    }

    /// <summary>
    /// Full month and day names (any case) become their three-letter forms; every other character is left as is, so
    /// Cronos sees the user's text unless it holds such a name.
    /// </summary>
    private static string Normalize(string expression, string[] fields)
    {
        if (!fields.Any(static f => f.Length > 3 && f.Any(char.IsAsciiLetter)))
        {
            return expression;
        }

        var result = new StringBuilder(expression.Length);
        int i = 0;
        while (i < expression.Length)
        {
            if (!char.IsAsciiLetter(expression[i]))
            {
                result.Append(expression[i++]);
                continue;
            }

            int start = i;
            while (i < expression.Length && char.IsAsciiLetter(expression[i]))
            {
                i++;
            }

            var word = expression.AsSpan(start, i - start);
            if (word.Length > 3 && IsFullName(word))
            {
                result.Append(word[..3]);
            }
            else if (word.Length > 4 && (word[^1] | 0x20) is 'l' or 'w' && IsFullName(word[..^1]))
            {
                result.Append(word[..3]).Append(word[^1]); // SundayL: the last Sunday
            }
            else
            {
                result.Append(word);
            }
        }

        return result.ToString();
    }

    private static bool IsFullName(ReadOnlySpan<char> word)
    {
        var names = CultureInfo.InvariantCulture.DateTimeFormat;
        foreach (string name in names.MonthNames)
        {
            if (name.Length > 0 && word.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        foreach (string name in names.DayNames)
        {
            if (word.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static string CronosError(string expression, Cronos.CronFormat format)
    {
        try
        {
            Cronos.CronExpression.Parse(expression, format);
            return "";
        }
        catch (Exception e) when (e is Cronos.CronFormatException or Cronos.MissingSeedException)
        {
            return e.Message;
        }
    }

    /// <summary>Builds our exception from Cronos's message, which starts with the field name when it knows it.</summary>
    private static CronFormatException Describe(string expression, string message, Exception inner)
    {
        // Cronos: "The given cron expression has an invalid format. Days of week: Unexpected character 'X'."
        foreach (string field in s_fieldNames)
        {
            int at = message.IndexOf(field + ":", StringComparison.Ordinal);
            if (at >= 0)
            {
                return new CronFormatException(field, $"{message[(at + field.Length + 1)..].Trim()} (in '{expression.Trim()}')", inner);
            }
        }

        return new CronFormatException(null, $"'{expression.Trim()}' is invalid: {message}", inner);
    }
}
