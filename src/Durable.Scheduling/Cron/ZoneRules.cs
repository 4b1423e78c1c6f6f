using System.Runtime.CompilerServices;

namespace Durable.Scheduling;

/// <summary>
/// A time zone's UTC offsets as segments between transitions, read once per year from <see cref="TimeZoneInfo"/>
/// and cached, so that the occurrence search asks no <see cref="TimeZoneInfo"/> method on its hot path.
/// </summary>
/// <remarks>
/// A segment is a UTC interval with one offset. Each calendar year (UTC) starts a pseudo segment with the same
/// offset as the one before, unless a real transition happened in the two days before the year began, in which
/// case the year's first segment starts at that transition. Thread-safe: years are built once and published with
/// a compare-exchange; a lost race only wastes the build.
/// </remarks>
internal sealed class ZoneRules
{
    private const long ProbeStep = TimeSpan.TicksPerHour * 6;
    private const long LookBack = TimeSpan.TicksPerDay * 2;
    private static readonly ConditionalWeakTable<TimeZoneInfo, ZoneRules> s_cache = [];

    private readonly YearSegments?[] _years = new YearSegments?[10000];

    private ZoneRules(TimeZoneInfo zone)
    {
        Zone = zone;
    }

    public TimeZoneInfo Zone { get; }

    public static ZoneRules For(TimeZoneInfo zone) => s_cache.GetValue(zone, static z => new ZoneRules(z));

    /// <summary>Finds the segment that contains <paramref name="utcTicks"/> (between 0 and DateTime.MaxValue.Ticks).</summary>
    public void GetSegment(long utcTicks, out ZoneSegment segment)
    {
        int year = new DateTime(utcTicks, DateTimeKind.Utc).Year;
        var data = _years[year] ?? Build(year);
        var starts = data.Starts;
        int i = starts.Length - 1;
        while (i > 0 && starts[i] > utcTicks)
        {
            i--;
        }

        segment = new ZoneSegment(starts[i], i + 1 < starts.Length ? starts[i + 1] : data.End, data.Offsets[i], data.PreviousOffsets[i]);
    }

    private YearSegments Build(int year)
    {
        long yearStart = new DateTime(year, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
        long yearEnd = year == 9999 ? DateTime.MaxValue.Ticks + 1 : new DateTime(year + 1, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
        var starts = new List<long>(4);
        var offsets = new List<long>(4);
        var previous = new List<long>(4);

        long current = Offset(yearStart);
        long firstStart = yearStart;
        long firstPrevious = current;
        if (yearStart >= LookBack)
        {
            long before = Offset(yearStart - LookBack);
            if (before != current)
            {
                firstStart = FindTransition(yearStart - LookBack, yearStart, before);
                firstPrevious = before;
            }
        }

        starts.Add(firstStart);
        offsets.Add(current);
        previous.Add(firstPrevious);

        long t = yearStart;
        while (t < yearEnd - 1)
        {
            long probe = Math.Min(t + ProbeStep, yearEnd - 1);
            long offset = Offset(probe);
            if (offset == current)
            {
                t = probe;
                continue;
            }

            long transition = FindTransition(t, probe, current);
            long after = Offset(transition);
            starts.Add(transition);
            offsets.Add(after);
            previous.Add(current);
            current = after;
            t = transition;
        }

        var built = new YearSegments([.. starts], [.. offsets], [.. previous], yearEnd);
        return Interlocked.CompareExchange(ref _years[year], built, null) ?? built;
    }

    /// <summary>The first tick in (lo, hi] whose offset differs from <paramref name="offsetAtLo"/>.</summary>
    private long FindTransition(long lo, long hi, long offsetAtLo)
    {
        while (hi - lo > 1)
        {
            long mid = lo + ((hi - lo) / 2);
            if (Offset(mid) == offsetAtLo)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return hi;
    }

    private long Offset(long utcTicks) => Zone.GetUtcOffset(new DateTime(utcTicks, DateTimeKind.Utc)).Ticks;

    private sealed record YearSegments(long[] Starts, long[] Offsets, long[] PreviousOffsets, long End);
}

/// <summary>A UTC interval [Start, End) with one offset; PreviousOffset is the offset in force before Start.</summary>
internal readonly record struct ZoneSegment(long Start, long End, long Offset, long PreviousOffset);
