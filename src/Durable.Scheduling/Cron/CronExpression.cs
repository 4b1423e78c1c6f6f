using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Durable.Scheduling;

/// <summary>
/// A parsed cron expression: Cronos's dialect and DST rules, plus full month and day names.
/// </summary>
/// <remarks>
/// <para>
/// <b>Dialect.</b> Five fields (minutes, hours, days of month, months, days of week) or six with seconds first
/// (see <see cref="CronFormat"/>). Each field takes <c>*</c>, values, ranges (<c>1-5</c>; a reversed range such as
/// <c>22-3</c> wraps), steps (<c>*/15</c>, <c>5/15</c>, <c>1-30/2</c>) and comma lists; <c>?</c> means <c>*</c>
/// in days of month and days of week. Days of month also take <c>L</c> (last day), <c>L-n</c>, <c>nW</c> (the
/// weekday nearest day n, within the month), <c>LW</c> and <c>L-nW</c>; days of week take <c>nL</c> (last such
/// weekday of the month) and <c>n#k</c> (k-th such weekday); 0 and 7 are Sunday. Months and days of week take
/// names, three-letter or full, in any case (<c>JAN</c>, <c>January</c>, <c>sun</c>, <c>Sunday</c>). Macros:
/// <c>@yearly</c>, <c>@annually</c>, <c>@monthly</c>, <c>@weekly</c>, <c>@daily</c>, <c>@midnight</c>,
/// <c>@hourly</c>, <c>@every_minute</c>, <c>@every_second</c>. <c>H</c> draws a fixed value from a seed given to
/// <see cref="Parse(string, CronFormat, int)"/>. When both days of month and days of week are restricted, a day
/// must match both (as in Cronos).
/// </para>
/// <para>
/// <b>Daylight saving time.</b> An occurrence whose local time falls in a spring-forward gap fires once, at the
/// first valid instant after the gap. In a fall-back overlap, an <i>interval</i> expression (one whose seconds,
/// minutes or hours field is written with <c>*</c>, a range or a step and matches more than one value) fires in
/// both passes; any other expression fires once, in the first pass.
/// </para>
/// <para>
/// <b>Thread-safety.</b> Instances are immutable and every member is safe to call from many threads at once.
/// Computing an occurrence allocates nothing (after the first use of a time zone in a given year).
/// </para>
/// </remarks>
public sealed class CronExpression : IEquatable<CronExpression>
{
    private const long TicksPerSecond = TimeSpan.TicksPerSecond;
    private const long MaxTicks = 3_155_378_975_999_999_999; // DateTime.MaxValue.Ticks
    private const int ReachabilityCheckAfterMonths = 14;
    private const int MaxMonthsSearched = (400 * 12) + 24; // the Gregorian calendar repeats every 400 years

    private static readonly int[] s_daysBeforeMonth = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

    private readonly ulong _seconds;
    private readonly ulong _minutes;
    private readonly ulong _hours;
    private readonly ulong _daysOfMonth;
    private readonly ulong _months;
    private readonly ulong _daysOfWeek;
    private readonly ulong _daysOfWeekRepeated;
    private readonly int _lastMonthOffset;
    private readonly int _nthDayOfWeek;
    private readonly CronFlags _flags;
    private ZoneRules? _lastZone;
    private int _reachable; // 0 unknown, 1 some day matches, 2 no day ever matches

    internal CronExpression(ulong seconds, ulong minutes, ulong hours, ulong daysOfMonth, ulong months, ulong daysOfWeek, int lastMonthOffset, int nthDayOfWeek, CronFlags flags)
    {
        _seconds = seconds;
        _minutes = minutes;
        _hours = hours;
        _daysOfMonth = daysOfMonth;
        _months = months;
        _daysOfWeek = daysOfWeek;
        _lastMonthOffset = lastMonthOffset;
        _nthDayOfWeek = nthDayOfWeek;
        _flags = flags;
        // Seven copies of the 7-bit weekday set side by side (no carries: each copy has its own 7 bits).
        _daysOfWeekRepeated = (daysOfWeek & 0x7F) * 0x0002_0408_1020_4081UL;
    }

    /// <summary>
    /// True when the expression fires in both passes of a DST fall-back overlap (its seconds, minutes or hours
    /// field was written with <c>*</c>, a range or a step and matches more than one value).
    /// </summary>
    internal bool IsInterval => (_flags & CronFlags.Interval) != 0;

    /// <summary>Parses a cron expression.</summary>
    /// <param name="expression">The expression; leading, trailing and repeated spaces and tabs are ignored.</param>
    /// <param name="format">
    /// How many fields to expect; <see cref="CronFormat.Standard"/> (five) by default. <see cref="CronFormat.Auto"/>
    /// lets the field count decide.
    /// </param>
    /// <returns>The parsed expression.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="expression"/> is null.</exception>
    /// <exception cref="CronFormatException">
    /// The expression is invalid (the message names the field and quotes the text), or uses <c>H</c> without a seed.
    /// </exception>
    public static CronExpression Parse(string expression, CronFormat format = CronFormat.Standard)
    {
        ArgumentNullException.ThrowIfNull(expression);
        return CronParser.Parse(expression, format, null, out var error) ?? throw error.ToException();
    }

    /// <summary>
    /// Parses a cron expression whose <c>H</c> fields (and seeded macros) draw fixed values from
    /// <paramref name="hashSeed"/>: the same seed always gives the same values, so that many schedules written the
    /// same way spread out instead of firing together. With a seed, macros also draw their fixed fields
    /// (<c>@hourly</c> fires at a drawn minute and second, not on the hour).
    /// </summary>
    /// <param name="expression">The expression.</param>
    /// <param name="format">How many fields to expect.</param>
    /// <param name="hashSeed">The seed for <c>H</c> values, for example a stable hash of a workflow name.</param>
    /// <returns>The parsed expression.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="expression"/> is null.</exception>
    /// <exception cref="CronFormatException">The expression is invalid.</exception>
    public static CronExpression Parse(string expression, CronFormat format, int hashSeed)
    {
        ArgumentNullException.ThrowIfNull(expression);
        return CronParser.Parse(expression, format, hashSeed, out var error) ?? throw error.ToException();
    }

    /// <summary>Tries to parse a five-field cron expression.</summary>
    /// <param name="expression">The expression, or null (which fails).</param>
    /// <param name="value">The parsed expression, or null when parsing failed.</param>
    /// <returns>True when the expression is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? expression, [NotNullWhen(true)] out CronExpression? value) =>
        TryParse(expression, CronFormat.Standard, out value);

    /// <summary>Tries to parse a cron expression in the given format. Never throws.</summary>
    /// <param name="expression">The expression, or null (which fails).</param>
    /// <param name="format">How many fields to expect.</param>
    /// <param name="value">The parsed expression, or null when parsing failed.</param>
    /// <returns>True when the expression is valid.</returns>
    public static bool TryParse([NotNullWhen(true)] string? expression, CronFormat format, [NotNullWhen(true)] out CronExpression? value)
    {
        value = expression is null ? null : CronParser.Parse(expression, format, null, out _);
        return value is not null;
    }

    /// <summary>Gets the next occurrence in UTC.</summary>
    /// <param name="fromUtc">The start instant; its <see cref="DateTime.Kind"/> must be <see cref="DateTimeKind.Utc"/>.
    /// A fraction of a second rounds up to the next whole second, which then counts as inclusive.</param>
    /// <param name="inclusive">Whether an occurrence equal to <paramref name="fromUtc"/> counts.</param>
    /// <returns>The next occurrence (UTC), or null when there is none (for example <c>0 0 30 2 *</c>).</returns>
    /// <exception cref="ArgumentException"><paramref name="fromUtc"/> is not UTC.</exception>
    public DateTime? GetNextOccurrence(DateTime fromUtc, bool inclusive = false)
    {
        RequireUtc(fromUtc);
        long ticks = FindNext(fromUtc.Ticks, inclusive);
        return ticks < 0 ? null : new DateTime(ticks, DateTimeKind.Utc);
    }

    /// <summary>Gets the next occurrence of the expression read in <paramref name="zone"/>, as a UTC instant.</summary>
    /// <param name="fromUtc">The start instant; must be UTC. A fraction of a second rounds up, then counts as inclusive.</param>
    /// <param name="zone">The time zone the expression is read in. DST gaps and overlaps follow the class rules.</param>
    /// <param name="inclusive">Whether an occurrence equal to <paramref name="fromUtc"/> counts.</param>
    /// <returns>The next occurrence (UTC), or null when there is none.</returns>
    /// <exception cref="ArgumentException"><paramref name="fromUtc"/> is not UTC.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="zone"/> is null.</exception>
    public DateTime? GetNextOccurrence(DateTime fromUtc, TimeZoneInfo zone, bool inclusive = false)
    {
        RequireUtc(fromUtc);
        ArgumentNullException.ThrowIfNull(zone);
        long ticks = NextUtc(fromUtc.Ticks, zone, inclusive);
        return ticks < 0 ? null : new DateTime(ticks, DateTimeKind.Utc);
    }

    /// <summary>Gets the next occurrence of the expression read in <paramref name="zone"/>.</summary>
    /// <param name="from">The start instant (any offset).</param>
    /// <param name="zone">The time zone the expression is read in.</param>
    /// <param name="inclusive">Whether an occurrence equal to <paramref name="from"/> counts.</param>
    /// <returns>The next occurrence, with the zone's offset at that instant, or null when there is none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="zone"/> is null.</exception>
    public DateTimeOffset? GetNextOccurrence(DateTimeOffset from, TimeZoneInfo zone, bool inclusive = false)
    {
        ArgumentNullException.ThrowIfNull(zone);
        long ticks = NextUtc(from.UtcTicks, zone, inclusive);
        return ticks < 0 ? null : InZone(ticks, zone);
    }

    /// <summary>Gets the latest occurrence before <paramref name="fromUtc"/>, in UTC.</summary>
    /// <param name="fromUtc">The start instant; must be UTC. A fraction of a second rounds down, then counts as inclusive.</param>
    /// <param name="inclusive">Whether an occurrence equal to <paramref name="fromUtc"/> counts.</param>
    /// <returns>The previous occurrence (UTC), or null when there is none.</returns>
    /// <exception cref="ArgumentException"><paramref name="fromUtc"/> is not UTC.</exception>
    public DateTime? GetPreviousOccurrence(DateTime fromUtc, bool inclusive = false)
    {
        RequireUtc(fromUtc);
        long ticks = FindPrevious(fromUtc.Ticks, inclusive);
        return ticks < 0 ? null : new DateTime(ticks, DateTimeKind.Utc);
    }

    /// <summary>Gets the latest occurrence before <paramref name="fromUtc"/> of the expression read in <paramref name="zone"/>.</summary>
    /// <param name="fromUtc">The start instant; must be UTC.</param>
    /// <param name="zone">The time zone the expression is read in; DST rules mirror those of the next occurrence.</param>
    /// <param name="inclusive">Whether an occurrence equal to <paramref name="fromUtc"/> counts.</param>
    /// <returns>The previous occurrence (UTC), or null when there is none.</returns>
    /// <exception cref="ArgumentException"><paramref name="fromUtc"/> is not UTC.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="zone"/> is null.</exception>
    public DateTime? GetPreviousOccurrence(DateTime fromUtc, TimeZoneInfo zone, bool inclusive = false)
    {
        RequireUtc(fromUtc);
        ArgumentNullException.ThrowIfNull(zone);
        long ticks = PreviousUtc(fromUtc.Ticks, zone, inclusive);
        return ticks < 0 ? null : new DateTime(ticks, DateTimeKind.Utc);
    }

    /// <summary>Gets the latest occurrence before <paramref name="from"/> of the expression read in <paramref name="zone"/>.</summary>
    /// <param name="from">The start instant (any offset).</param>
    /// <param name="zone">The time zone the expression is read in.</param>
    /// <param name="inclusive">Whether an occurrence equal to <paramref name="from"/> counts.</param>
    /// <returns>The previous occurrence with the zone's offset at that instant, or null when there is none.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="zone"/> is null.</exception>
    public DateTimeOffset? GetPreviousOccurrence(DateTimeOffset from, TimeZoneInfo zone, bool inclusive = false)
    {
        ArgumentNullException.ThrowIfNull(zone);
        long ticks = PreviousUtc(from.UtcTicks, zone, inclusive);
        return ticks < 0 ? null : InZone(ticks, zone);
    }

    /// <summary>Lists the occurrences in UTC between two UTC instants, lazily and in ascending order.</summary>
    /// <param name="fromUtc">The start; must be UTC.</param>
    /// <param name="toUtc">The end; must be UTC. Nothing is returned when it is before <paramref name="fromUtc"/>.</param>
    /// <param name="fromInclusive">Whether an occurrence equal to <paramref name="fromUtc"/> counts (default true).</param>
    /// <param name="toInclusive">Whether an occurrence equal to <paramref name="toUtc"/> counts (default false).</param>
    /// <returns>A lazy sequence of UTC instants.</returns>
    /// <exception cref="ArgumentException">An argument is not UTC.</exception>
    public IEnumerable<DateTime> GetOccurrences(DateTime fromUtc, DateTime toUtc, bool fromInclusive = true, bool toInclusive = false) =>
        GetOccurrences(fromUtc, toUtc, TimeZoneInfo.Utc, fromInclusive, toInclusive);

    /// <summary>Lists the occurrences of the expression read in <paramref name="zone"/>, lazily and in ascending order.</summary>
    /// <param name="fromUtc">The start; must be UTC.</param>
    /// <param name="toUtc">The end; must be UTC.</param>
    /// <param name="zone">The time zone the expression is read in.</param>
    /// <param name="fromInclusive">Whether an occurrence equal to <paramref name="fromUtc"/> counts (default true).</param>
    /// <param name="toInclusive">Whether an occurrence equal to <paramref name="toUtc"/> counts (default false).</param>
    /// <returns>A lazy sequence of UTC instants.</returns>
    /// <exception cref="ArgumentException">An instant is not UTC.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="zone"/> is null.</exception>
    public IEnumerable<DateTime> GetOccurrences(DateTime fromUtc, DateTime toUtc, TimeZoneInfo zone, bool fromInclusive = true, bool toInclusive = false)
    {
        RequireUtc(fromUtc);
        RequireUtc(toUtc, nameof(toUtc));
        ArgumentNullException.ThrowIfNull(zone);
        return Enumerate(fromUtc.Ticks, toUtc.Ticks, zone, fromInclusive, toInclusive);

        IEnumerable<DateTime> Enumerate(long from, long to, TimeZoneInfo z, bool inclusive, bool toIncl)
        {
            for (long t = NextUtc(from, z, inclusive); t >= 0 && (t < to || (toIncl && t == to)); t = NextUtc(t, z, false))
            {
                yield return new DateTime(t, DateTimeKind.Utc);
            }
        }
    }

    /// <summary>Lists the occurrences of the expression read in <paramref name="zone"/>, lazily and in ascending order.</summary>
    /// <param name="from">The start.</param>
    /// <param name="to">The end.</param>
    /// <param name="zone">The time zone the expression is read in; results carry its offset.</param>
    /// <param name="fromInclusive">Whether an occurrence equal to <paramref name="from"/> counts (default true).</param>
    /// <param name="toInclusive">Whether an occurrence equal to <paramref name="to"/> counts (default false).</param>
    /// <returns>A lazy sequence of instants with the zone's offset.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="zone"/> is null.</exception>
    public IEnumerable<DateTimeOffset> GetOccurrences(DateTimeOffset from, DateTimeOffset to, TimeZoneInfo zone, bool fromInclusive = true, bool toInclusive = false)
    {
        ArgumentNullException.ThrowIfNull(zone);
        return GetOccurrences(from.UtcDateTime, to.UtcDateTime, zone, fromInclusive, toInclusive).Select(t => InZone(t.Ticks, zone));
    }

    /// <summary>Returns the normalized expression: values listed in order, full fields as <c>*</c>, names as numbers,
    /// and the seconds field only when it is not exactly <c>0</c>.</summary>
    /// <returns>The normalized text, which parses back to an equal expression (with <see cref="CronFormat.Auto"/>).</returns>
    public override string ToString()
    {
        var sb = new StringBuilder(32);

        // The DST both-passes rule comes from range or step syntax: when no seconds, minutes or hours field prints
        // as '*', the first one with several values is printed as a range so that the text parses back equal.
        const ulong AllSixty = (1UL << 60) - 1;
        bool carry = IsInterval && (_seconds & AllSixty) != AllSixty && (_minutes & AllSixty) != AllSixty && _hours != (1UL << 24) - 1;
        if (_seconds != 1)
        {
            AppendMask(sb, _seconds, 0, 59, ref carry).Append(' ');
        }

        AppendMask(sb, _minutes, 0, 59, ref carry).Append(' ');
        AppendMask(sb, _hours, 0, 23, ref carry).Append(' ');
        if ((_flags & CronFlags.DayOfMonthLast) != 0)
        {
            sb.Append('L');
            if (_lastMonthOffset != 0)
            {
                sb.Append('-').Append(_lastMonthOffset);
            }

            if ((_flags & CronFlags.NearestWeekday) != 0)
            {
                sb.Append('W');
            }
        }
        else if ((_flags & CronFlags.NearestWeekday) != 0)
        {
            sb.Append(BitOperations.TrailingZeroCount(_daysOfMonth)).Append('W');
        }
        else
        {
            AppendMask(sb, _daysOfMonth, 1, 31);
        }

        sb.Append(' ');
        AppendMask(sb, _months, 1, 12).Append(' ');
        if ((_flags & CronFlags.DayOfWeekLast) != 0)
        {
            sb.Append(BitOperations.TrailingZeroCount(_daysOfWeek)).Append('L');
        }
        else if ((_flags & CronFlags.NthDayOfWeek) != 0)
        {
            sb.Append(BitOperations.TrailingZeroCount(_daysOfWeek)).Append('#').Append(_nthDayOfWeek);
        }
        else
        {
            AppendMask(sb, _daysOfWeek, 0, 6);
        }

        return sb.ToString();
    }

    /// <summary>Structural equality: both match exactly the same instants under the same DST rules.</summary>
    /// <param name="other">The other expression.</param>
    /// <returns>True when equal.</returns>
    public bool Equals([NotNullWhen(true)] CronExpression? other) =>
        other is not null &&
        _seconds == other._seconds && _minutes == other._minutes && _hours == other._hours &&
        _daysOfMonth == other._daysOfMonth && _months == other._months && _daysOfWeek == other._daysOfWeek &&
        _lastMonthOffset == other._lastMonthOffset && _nthDayOfWeek == other._nthDayOfWeek && _flags == other._flags;

    /// <inheritdoc />
    public override bool Equals([NotNullWhen(true)] object? obj) => Equals(obj as CronExpression);

    /// <inheritdoc />
    public override int GetHashCode() =>
        HashCode.Combine(_seconds, _minutes, _hours, _daysOfMonth, _months, _daysOfWeek, HashCode.Combine(_lastMonthOffset, _nthDayOfWeek, _flags));

    /// <summary>Structural equality.</summary>
    /// <param name="left">The left expression.</param>
    /// <param name="right">The right expression.</param>
    /// <returns>True when both are null or equal.</returns>
    public static bool operator ==(CronExpression? left, CronExpression? right) => left is null ? right is null : left.Equals(right);

    /// <summary>Structural inequality.</summary>
    /// <param name="left">The left expression.</param>
    /// <param name="right">The right expression.</param>
    /// <returns>True when not equal.</returns>
    public static bool operator !=(CronExpression? left, CronExpression? right) => !(left == right);

    /// <summary>Next occurrence as UTC ticks, or -1. The engine's allocation-free entry point.</summary>
    internal long NextUtc(long fromUtcTicks, TimeZoneInfo zone, bool inclusive)
    {
        if (ReferenceEquals(zone, TimeZoneInfo.Utc))
        {
            return FindNext(fromUtcTicks, inclusive);
        }

        var rules = Rules(zone);
        if (fromUtcTicks % TicksPerSecond != 0)
        {
            fromUtcTicks += TicksPerSecond - (fromUtcTicks % TicksPerSecond);
            inclusive = true;
            if (fromUtcTicks > MaxTicks)
            {
                return -1;
            }
        }

        rules.GetSegment(fromUtcTicks, out var segment);
        long cursor = fromUtcTicks + segment.Offset;
        while (true)
        {
            long local = FindNext(cursor, inclusive);
            if (local < 0)
            {
                return -1;
            }

            if (local < segment.End + segment.Offset)
            {
                if (local < segment.Start + segment.Offset)
                {
                    // Inside the spring-forward gap before this segment: fires once, when the gap ends.
                    return segment.Start;
                }

                if (local < segment.Start + segment.PreviousOffset && (_flags & CronFlags.Interval) == 0)
                {
                    // Second pass of a fall-back overlap: a fixed time already fired in the first pass.
                    cursor = segment.Start + segment.PreviousOffset;
                    inclusive = true;
                    continue;
                }

                long utc = local - segment.Offset;
                return utc <= MaxTicks ? utc : -1;
            }

            if (segment.End > MaxTicks)
            {
                return -1;
            }

            long boundary = segment.End;
            long offsetBefore = segment.Offset;
            rules.GetSegment(boundary, out segment);
            cursor = boundary + Math.Min(offsetBefore, segment.Offset);
            inclusive = true;
        }
    }

    /// <summary>Previous occurrence as UTC ticks, or -1.</summary>
    internal long PreviousUtc(long fromUtcTicks, TimeZoneInfo zone, bool inclusive)
    {
        if (ReferenceEquals(zone, TimeZoneInfo.Utc))
        {
            return FindPrevious(fromUtcTicks, inclusive);
        }

        var rules = Rules(zone);
        if (fromUtcTicks % TicksPerSecond != 0)
        {
            fromUtcTicks -= fromUtcTicks % TicksPerSecond;
            inclusive = true;
        }

        rules.GetSegment(fromUtcTicks, out var segment);
        long cursor = fromUtcTicks + segment.Offset;
        while (true)
        {
            long local = FindPrevious(cursor, inclusive);
            if (local < 0)
            {
                return -1;
            }

            if (local >= segment.Start + segment.Offset)
            {
                if (local < segment.Start + segment.PreviousOffset && (_flags & CronFlags.Interval) == 0)
                {
                    // A fixed time in a fall-back overlap fires in the first pass.
                    return local - segment.PreviousOffset;
                }

                long utc = local - segment.Offset;
                return utc >= 0 ? utc : -1;
            }

            if (local >= segment.Start + segment.PreviousOffset)
            {
                // Inside the spring-forward gap before this segment: searching backward, Cronos resolves it to the
                // last valid second before the gap.
                return segment.Start - TicksPerSecond;
            }

            if (segment.Start <= 0)
            {
                return -1;
            }

            long boundary = segment.Start;
            rules.GetSegment(boundary - 1, out segment);
            cursor = boundary + segment.Offset;
            inclusive = false;
        }
    }

    private ZoneRules Rules(TimeZoneInfo zone)
    {
        var rules = _lastZone;
        if (rules is null || !ReferenceEquals(rules.Zone, zone))
        {
            rules = ZoneRules.For(zone);
            _lastZone = rules;
        }

        return rules;
    }

    private DateTimeOffset InZone(long utcTicks, TimeZoneInfo zone)
    {
        if (ReferenceEquals(zone, TimeZoneInfo.Utc))
        {
            return new DateTimeOffset(utcTicks, TimeSpan.Zero);
        }

        Rules(zone).GetSegment(utcTicks, out var segment);
        long offset = segment.Offset - (segment.Offset % TimeSpan.TicksPerMinute);
        return new DateTimeOffset(utcTicks + offset, new TimeSpan(offset));
    }

    /// <summary>Finds the first matching wall-clock instant at or after <paramref name="ticks"/> (a calendar without zones).</summary>
    private long FindNext(long ticks, bool inclusive)
    {
        if (ticks < 0)
        {
            ticks = 0;
            inclusive = true;
        }

        long rem = ticks % TicksPerSecond;
        if (rem != 0)
        {
            ticks += TicksPerSecond - rem;
            inclusive = true;
        }

        if (!inclusive)
        {
            ticks += TicksPerSecond;
        }

        if (ticks > MaxTicks)
        {
            return -1;
        }

        new DateTime(ticks).Deconstruct(out int year, out int month, out int day);
        int secondOfDay = (int)(ticks / TicksPerSecond % 86_400);
        int hour = secondOfDay / 3600;
        int minute = secondOfDay / 60 % 60;
        int second = secondOfDay % 60;
        int monthsSearched = 0;
        ulong dayMask = 0;
        int dayMaskMonth = 0;

        while (true)
        {
            if (second > 59)
            {
                second = 0;
                minute++;
            }

            if (minute > 59)
            {
                minute = 0;
                hour++;
            }

            if (hour > 23)
            {
                hour = 0;
                day++;
            }

            if (day > 28 && day > DaysInMonth(year, month))
            {
                day = 1;
                month++;
            }

            if (month > 12)
            {
                month = 1;
                year++;
            }

            if (year > 9999)
            {
                return -1;
            }

            int m = NextBit(_months, month);
            if (m < 0)
            {
                year++;
                month = 1;
                day = 1;
                hour = minute = second = 0;
                continue;
            }

            if (m != month)
            {
                month = m;
                day = 1;
                hour = minute = second = 0;
            }

            int monthKey = (year * 16) + month;
            if (monthKey != dayMaskMonth)
            {
                if (++monthsSearched > ReachabilityCheckAfterMonths && (monthsSearched > MaxMonthsSearched || !IsReachable()))
                {
                    return -1;
                }

                dayMask = DayMask(year, month);
                dayMaskMonth = monthKey;
            }

            int d = NextBit(dayMask, day);
            if (d < 0)
            {
                month++;
                day = 1;
                hour = minute = second = 0;
                continue;
            }

            if (d != day)
            {
                day = d;
                hour = minute = second = 0;
            }

            int h = NextBit(_hours, hour);
            if (h < 0)
            {
                day++;
                hour = minute = second = 0;
                continue;
            }

            if (h != hour)
            {
                hour = h;
                minute = second = 0;
            }

            int mi = NextBit(_minutes, minute);
            if (mi < 0)
            {
                hour++;
                minute = second = 0;
                continue;
            }

            if (mi != minute)
            {
                minute = mi;
                second = 0;
            }

            int s = NextBit(_seconds, second);
            if (s < 0)
            {
                minute++;
                second = 0;
                continue;
            }

            return ToTicks(year, month, day, hour, minute, s);
        }
    }

    /// <summary>Finds the last matching wall-clock instant at or before <paramref name="ticks"/>.</summary>
    private long FindPrevious(long ticks, bool inclusive)
    {
        if (ticks > MaxTicks)
        {
            ticks = MaxTicks;
            inclusive = true;
        }

        long rem = ticks % TicksPerSecond;
        if (rem != 0)
        {
            ticks -= rem;
            inclusive = true;
        }

        if (!inclusive)
        {
            ticks -= TicksPerSecond;
        }

        if (ticks < 0)
        {
            return -1;
        }

        new DateTime(ticks).Deconstruct(out int year, out int month, out int day);
        int secondOfDay = (int)(ticks / TicksPerSecond % 86_400);
        int hour = secondOfDay / 3600;
        int minute = secondOfDay / 60 % 60;
        int second = secondOfDay % 60;
        int monthsSearched = 0;
        ulong dayMask = 0;
        int dayMaskMonth = 0;

        while (true)
        {
            if (second < 0)
            {
                second = 59;
                minute--;
            }

            if (minute < 0)
            {
                minute = 59;
                hour--;
            }

            if (hour < 0)
            {
                hour = 23;
                day--;
            }

            if (day < 1)
            {
                month--;
                day = 31;
            }

            if (month < 1)
            {
                month = 12;
                year--;
            }

            if (year < 1)
            {
                return -1;
            }

            int m = PreviousBit(_months, month);
            if (m < 0)
            {
                year--;
                month = 12;
                day = 31;
                hour = 23;
                minute = second = 59;
                continue;
            }

            if (m != month)
            {
                month = m;
                day = 31;
                hour = 23;
                minute = second = 59;
            }

            int monthKey = (year * 16) + month;
            if (monthKey != dayMaskMonth)
            {
                if (++monthsSearched > ReachabilityCheckAfterMonths && (monthsSearched > MaxMonthsSearched || !IsReachable()))
                {
                    return -1;
                }

                dayMask = DayMask(year, month);
                dayMaskMonth = monthKey;
            }

            int d = PreviousBit(dayMask, day);
            if (d < 0)
            {
                day = 0;
                hour = 23;
                minute = second = 59;
                continue;
            }

            if (d != day)
            {
                day = d;
                hour = 23;
                minute = second = 59;
            }

            int h = PreviousBit(_hours, hour);
            if (h < 0)
            {
                day--;
                hour = 23;
                minute = second = 59;
                continue;
            }

            if (h != hour)
            {
                hour = h;
                minute = second = 59;
            }

            int mi = PreviousBit(_minutes, minute);
            if (mi < 0)
            {
                hour--;
                minute = second = 59;
                continue;
            }

            if (mi != minute)
            {
                minute = mi;
                second = 59;
            }

            int s = PreviousBit(_seconds, second);
            if (s < 0)
            {
                minute--;
                second = 59;
                continue;
            }

            return ToTicks(year, month, day, hour, minute, s);
        }
    }

    /// <summary>The days (bits 1-31) of the given month that match both day fields and the special day rules.</summary>
    private ulong DayMask(int year, int month)
    {
        int daysInMonth = DaysInMonth(year, month);
        if ((_flags & (CronFlags.DayOfMonthStar | CronFlags.DayOfWeekStar)) == (CronFlags.DayOfMonthStar | CronFlags.DayOfWeekStar))
        {
            return ValidDays(daysInMonth);
        }

        int firstWeekday = (int)((DaysBefore(year, month) + 1) % 7);
        return DaysMatching(daysInMonth, firstWeekday);
    }

    private ulong DaysMatching(int daysInMonth, int firstWeekday)
    {
        ulong valid = ValidDays(daysInMonth);
        ulong days;
        if ((_flags & CronFlags.DayOfMonthStar) != 0)
        {
            days = valid;
        }
        else
        {
            if ((_flags & CronFlags.DayOfMonthLast) != 0)
            {
                int last = daysInMonth - _lastMonthOffset;
                days = last >= 1 ? 1UL << last : 0;
            }
            else
            {
                days = _daysOfMonth & valid;
            }

            if ((_flags & CronFlags.NearestWeekday) != 0 && days != 0)
            {
                int target = BitOperations.TrailingZeroCount(days);
                int weekday = (firstWeekday + target - 1) % 7;
                if (weekday == 6)
                {
                    target = target == 1 ? 3 : target - 1; // Saturday: the Friday before, or Monday the 3rd
                }
                else if (weekday == 0)
                {
                    target = target == daysInMonth ? target - 2 : target + 1; // Sunday: the Monday after, or the Friday before at month end
                }

                days = 1UL << target;
            }
        }

        if ((_flags & CronFlags.DayOfWeekStar) == 0)
        {
            ulong weekdays;
            if ((_flags & CronFlags.NthDayOfWeek) != 0)
            {
                int weekday = BitOperations.TrailingZeroCount(_daysOfWeek);
                int nth = 1 + ((weekday - firstWeekday + 7) % 7) + (7 * (_nthDayOfWeek - 1));
                weekdays = nth <= daysInMonth ? 1UL << nth : 0;
            }
            else if ((_flags & CronFlags.DayOfWeekLast) != 0)
            {
                int weekday = BitOperations.TrailingZeroCount(_daysOfWeek);
                int lastWeekday = (firstWeekday + daysInMonth - 1) % 7;
                weekdays = 1UL << (daysInMonth - ((lastWeekday - weekday + 7) % 7));
            }
            else
            {
                weekdays = (_daysOfWeekRepeated >> firstWeekday) << 1;
            }

            days &= weekdays;
        }

        return days & valid;
    }

    /// <summary>
    /// Whether any month ever has a matching day. Computed once, lazily, when a search has gone more than a year
    /// without a match, so that expressions such as <c>0 0 30 2 *</c> answer null at once instead of searching.
    /// </summary>
    private bool IsReachable()
    {
        int known = Volatile.Read(ref _reachable);
        if (known != 0)
        {
            return known == 1;
        }

        bool reachable = false;
        for (int month = 1; month <= 12 && !reachable; month++)
        {
            if ((_months & (1UL << month)) == 0)
            {
                continue;
            }

            int shortest = month == 2 ? 28 : DaysInMonth(2001, month);
            int longest = month == 2 ? 29 : shortest;
            for (int days = shortest; days <= longest && !reachable; days++)
            {
                for (int weekday = 0; weekday < 7 && !reachable; weekday++)
                {
                    reachable = DaysMatching(days, weekday) != 0;
                }
            }
        }

        Volatile.Write(ref _reachable, reachable ? 1 : 2);
        return reachable;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NextBit(ulong mask, int from)
    {
        ulong rest = mask & (ulong.MaxValue << from);
        return rest == 0 ? -1 : BitOperations.TrailingZeroCount(rest);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int PreviousBit(ulong mask, int upTo)
    {
        ulong rest = upTo >= 63 ? mask : mask & ((2UL << upTo) - 1);
        return rest == 0 ? -1 : 63 - BitOperations.LeadingZeroCount(rest);
    }

    private static ulong ValidDays(int daysInMonth) => ((1UL << daysInMonth) - 1) << 1;

    private static bool IsLeap(int year) => (year & 3) == 0 && (year % 100 != 0 || year % 400 == 0);

    private static int DaysInMonth(int year, int month) =>
        month == 2 ? (IsLeap(year) ? 29 : 28) : 30 + ((month + (month >> 3)) & 1);

    /// <summary>Days from 0001-01-01 to the first of the month.</summary>
    private static long DaysBefore(int year, int month)
    {
        int y = year - 1;
        long days = (y * 365L) + (y / 4) - (y / 100) + (y / 400) + s_daysBeforeMonth[month];
        return month > 2 && IsLeap(year) ? days + 1 : days;
    }

    private static long ToTicks(int year, int month, int day, int hour, int minute, int second) =>
        ((DaysBefore(year, month) + day - 1) * TimeSpan.TicksPerDay) + (((hour * 3600L) + (minute * 60L) + second) * TicksPerSecond);

    private static StringBuilder AppendMask(StringBuilder sb, ulong mask, int min, int max, ref bool asRange)
    {
        if (asRange && BitOperations.PopCount(mask) > 1)
        {
            asRange = false;
            int first = BitOperations.TrailingZeroCount(mask);
            int last = 63 - BitOperations.LeadingZeroCount(mask);
            int step = BitOperations.TrailingZeroCount(mask >> first >> 1) + 1;
            ulong progression = 0;
            for (int v = first; v <= last; v += step)
            {
                progression |= 1UL << v;
            }

            if (progression == mask)
            {
                sb.Append(first).Append('-').Append(last);
                return step == 1 ? sb : sb.Append('/').Append(step);
            }

            // Not a progression: a list whose last value is written as a one-value range.
            return AppendMask(sb, mask & ~(1UL << last), min, max).Append(',').Append(last).Append('-').Append(last);
        }

        return AppendMask(sb, mask, min, max);
    }

    private static StringBuilder AppendMask(StringBuilder sb, ulong mask, int min, int max)
    {
        ulong all = (ulong.MaxValue >> (63 - max)) & (ulong.MaxValue << min);
        if ((mask & all) == all)
        {
            return sb.Append('*');
        }

        bool first = true;
        for (int v = min; v <= max; v++)
        {
            if ((mask & (1UL << v)) != 0)
            {
                if (!first)
                {
                    sb.Append(',');
                }

                sb.Append(v);
                first = false;
            }
        }

        return sb;
    }

    private static void RequireUtc(DateTime value, [CallerArgumentExpression(nameof(value))] string? name = null)
    {
        if (value.Kind != DateTimeKind.Utc)
        {
            throw new ArgumentException($"The DateTime must be UTC (Kind = Utc); got Kind = {value.Kind}. Convert it with ToUniversalTime() or pass a DateTimeOffset.", name);
        }
    }
}
