using System.Globalization;

namespace Durable.Scheduling.Schedules;

/// <summary>
/// The years a calendar allows (2000-2999). Ours because Cronos has no year field; the grammar is a cron field's:
/// <c>*</c>, values, ranges, steps, lists. Immutable.
/// </summary>
internal sealed class YearSet
{
    public const int First = 2000;
    public const int Last = 2999;
    private readonly bool[] _allowed = new bool[Last - First + 1];

    private YearSet()
    {
    }

    public static YearSet? Any => null;

    /// <summary>Parses a year field; null or <c>*</c> is every year (returned as null).</summary>
    /// <exception cref="FormatException">The field is not valid; the message says why.</exception>
    public static YearSet? Parse(string? field)
    {
        if (field is null || field.Trim() == "*")
        {
            return null;
        }

        var set = new YearSet();
        foreach (string raw in field.Split(','))
        {
            string part = raw.Trim();
            int step = 1;
            int slash = part.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0)
            {
                step = Number(part[(slash + 1)..], 1, Last - First);
                part = part[..slash];
            }

            int from, to;
            if (part == "*")
            {
                (from, to) = (First, Last);
            }
            else if (part.IndexOf('-', StringComparison.Ordinal) is > 0 and var dash)
            {
                (from, to) = (Number(part[..dash], First, Last), Number(part[(dash + 1)..], First, Last));
                if (to < from)
                {
                    throw new FormatException($"the range '{part}' ends before it starts.");
                }
            }
            else
            {
                from = Number(part, First, Last);
                to = slash >= 0 ? Last : from;
            }

            for (int y = from; y <= to; y += step)
            {
                set._allowed[y - First] = true;
            }
        }

        return set;
    }

    public bool Contains(int year) => year is >= First and <= Last && _allowed[year - First];

    /// <summary>The first allowed year after <paramref name="year"/>, or -1.</summary>
    public int NextAfter(int year)
    {
        for (int y = Math.Max(year + 1, First); y <= Last; y++)
        {
            if (_allowed[y - First])
            {
                return y;
            }
        }

        return -1;
    }

    private static int Number(string text, int min, int max) =>
        int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new FormatException($"'{text.Trim()}' is not a number from {min} to {max}.");
}
