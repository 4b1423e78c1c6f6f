using Durable.Scheduling.Cron;

namespace Durable.Scheduling.Schedules;

/// <summary>
/// A validated <see cref="ScheduleSpec"/>, ready to answer fire times: the union of its sources, minus skips, within
/// its bounds. Immutable and thread-safe.
/// </summary>
internal sealed class CompiledSpec
{
    private const int MaxSkippedInARow = 100_000;
    private static readonly string[] s_calendarFields = ["Second", "Minute", "Hour", "DayOfMonth", "Month", "DayOfWeek"];
    private static readonly string[] s_cronosFields = ["Seconds", "Minutes", "Hours", "Days of month", "Months", "Days of week"];
    // A schedule book holds one compiled spec per schedule, so it keeps what most specs are in few objects: the one
    // source of most specs as it is (a cron expression without years as Cronos's own expression), several in an array;
    // skips, bounds and jitter, which most specs have none of, in an object of their own.
    private readonly object _sources; // a Cronos.CronExpression, a SpecSource, or a SpecSource[] of several
    private readonly Limits? _limits;

    private CompiledSpec(ScheduleSpec spec, TimeZoneInfo zone, SpecSource[] sources, CronSource[] skips)
    {
        Zone = zone;
        _sources = sources.Length == 1 ? (sources[0] is CronSource { Plain: { } cron } ? cron : sources[0]) : sources;
        long start = spec.StartAt?.UtcTicks ?? long.MinValue;
        long end = spec.EndAt?.UtcTicks ?? long.MaxValue;
        if (skips.Length > 0 || start != long.MinValue || end != long.MaxValue || spec.Jitter.Ticks != 0)
        {
            _limits = new Limits(skips, start, end, spec.Jitter.Ticks);
        }
    }

    public TimeZoneInfo Zone { get; }

    public long JitterTicks => _limits?.JitterTicks ?? 0;

    /// <summary>Validates and compiles a spec.</summary>
    /// <param name="spec">The spec.</param>
    /// <param name="path">The spec's path for error messages (<c>Spec</c>).</param>
    /// <param name="refuseNeverFiring">
    /// True for a spec about to be stored (or previewed): what would never fire is refused, a cron expression or calendar
    /// that matches no date at all (30 February), a skip calendar that skips every time, a start after the latest run
    /// time. Specs read back from a store are compiled as they are (one stored before these checks never fires).
    /// </param>
    /// <exception cref="ScheduleSpecException">The spec is invalid; the field is named.</exception>
    public static CompiledSpec Compile(ScheduleSpec? spec, string path = "Spec", bool refuseNeverFiring = false)
    {
        if (spec is null)
        {
            throw new ScheduleSpecException(path, "a schedule needs a spec.");
        }

        var zone = FindZone(spec.TimeZone, path + ".TimeZone");
        var sources = new List<SpecSource>();
        var cron = spec.Cron ?? [];
        for (int i = 0; i < cron.Count; i++)
        {
            try
            {
                sources.Add(new CronSource(CronSpec.Parse(cron[i]), null));
            }
            catch (CronFormatException e)
            {
                throw new ScheduleSpecException($"{path}.Cron[{i}]", e.Message, e);
            }

            if (refuseNeverFiring)
            {
                RefuseNeverFiring(sources[^1], zone, $"{path}.Cron[{i}]", $"'{cron[i]}'");
            }
        }

        var intervals = spec.Intervals ?? [];
        long shortest = long.MaxValue;
        for (int i = 0; i < intervals.Count; i++)
        {
            string at = $"{path}.Intervals[{i}]";
            var interval = intervals[i] ?? throw new ScheduleSpecException(at, "is null.");
            if (interval.Every < TimeSpan.FromSeconds(1) || interval.Every.Ticks % TimeSpan.TicksPerSecond != 0)
            {
                throw new ScheduleSpecException(at + ".Every", $"{interval.Every} is not a whole number of seconds of at least one (a zero interval never ends).");
            }

            if (interval.Offset < TimeSpan.Zero || interval.Offset >= interval.Every || interval.Offset.Ticks % TimeSpan.TicksPerSecond != 0)
            {
                throw new ScheduleSpecException(at + ".Offset", $"{interval.Offset} must be whole seconds from zero up to the interval ({interval.Every}), not including it.");
            }

            shortest = Math.Min(shortest, interval.Every.Ticks);
            sources.Add(new IntervalSource(interval.Every.Ticks, interval.Offset.Ticks));
        }

        var calendars = spec.Calendars ?? [];
        for (int i = 0; i < calendars.Count; i++)
        {
            sources.Add(Calendar(calendars[i], $"{path}.Calendars[{i}]", skip: false));
            if (refuseNeverFiring)
            {
                RefuseNeverFiring(sources[^1], zone, $"{path}.Calendars[{i}]", "the calendar");
            }
        }

        var skipCalendars = spec.Skip ?? [];
        var skips = skipCalendars.Count == 0 ? [] : new CronSource[skipCalendars.Count];
        for (int i = 0; i < skips.Length; i++)
        {
            skips[i] = Calendar(skipCalendars[i], $"{path}.Skip[{i}]", skip: true);
            if (refuseNeverFiring && SkipsEverything(skipCalendars[i]))
            {
                throw new ScheduleSpecException($"{path}.Skip[{i}]", "sets no field (or only '*'), so it skips every time and nothing would ever fire; set the days or hours to skip.");
            }
        }

        if (sources.Count == 0)
        {
            throw new ScheduleSpecException(path, "has no cron expression, interval or calendar: it would never fire.");
        }

        if (spec.StartAt is { } start && spec.EndAt is { } end && end < start)
        {
            throw new ScheduleSpecException(path + ".EndAt", $"{end:O} is before StartAt {start:O}.");
        }

        if (refuseNeverFiring && spec.StartAt > SchedulingLimits.LatestRunTime)
        {
            throw new ScheduleSpecException(path + ".StartAt", $"{spec.StartAt:O} is after {SchedulingLimits.LatestRunTime:O}, the latest time a run may have: it would never fire.");
        }

        if (spec.Jitter < TimeSpan.Zero || spec.Jitter > TimeSpan.FromDays(1))
        {
            throw new ScheduleSpecException(path + ".Jitter", $"{spec.Jitter} must be from zero to one day.");
        }

        if (spec.Jitter.Ticks > shortest)
        {
            throw new ScheduleSpecException(path + ".Jitter", $"{spec.Jitter} is longer than the shortest interval ({TimeSpan.FromTicks(shortest)}): occurrences could start out of order.");
        }

        return new CompiledSpec(spec, zone, [.. sources], skips);
    }

    private static readonly long s_earliestTicks = SchedulingLimits.EarliestRunTime.UtcTicks;

    /// <summary>A skip calendar that matches every instant: each field unset or '*', and no year.</summary>
    private static bool SkipsEverything(ScheduleCalendar calendar) =>
        calendar.Year is null &&
        new[] { calendar.Second, calendar.Minute, calendar.Hour, calendar.DayOfMonth, calendar.Month, calendar.DayOfWeek }.All(f => f is null || f.Trim() == "*");

    /// <summary>
    /// Refuses a cron expression or calendar that matches no date from <see cref="SchedulingLimits.EarliestRunTime"/> on
    /// (a day that no month has, a year before then): such a schedule would never fire, which is never what was meant.
    /// </summary>
    private static void RefuseNeverFiring(SpecSource source, TimeZoneInfo zone, string field, string what)
    {
        if (source.Next(s_earliestTicks, zone) < 0)
        {
            throw new ScheduleSpecException(field, $"{what} matches no date (such as 30 February, or only years before 2000): it would never fire.");
        }
    }

    /// <summary>Finds a zone by IANA or Windows id.</summary>
    /// <exception cref="ScheduleSpecException">Unknown zone.</exception>
    public static TimeZoneInfo FindZone(string? id, string field)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            throw new ScheduleSpecException(field, "the time zone is empty; use \"UTC\" for none.");
        }

        try
        {
            return id is "UTC" or "Etc/UTC" ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException)
        {
            throw new ScheduleSpecException(field, $"'{id}' is not a time zone this machine knows (IANA ids such as \"Europe/London\").", e);
        }
    }

    /// <summary>The first fire time strictly after <paramref name="fromTicks"/> (UTC ticks), or -1 when there is none.</summary>
    public long NextUtc(long fromTicks)
    {
        long start = _limits?.Start ?? long.MinValue;
        long end = _limits?.End ?? long.MaxValue;
        long from = Math.Max(fromTicks, start == long.MinValue ? long.MinValue : start - 1);
        for (int skipped = 0; skipped < MaxSkippedInARow; skipped++)
        {
            long best = _sources switch
            {
                Cronos.CronExpression cron => CronSpec.NextUtc(cron, from, Zone, inclusive: false),
                SpecSource only => only.Next(from, Zone),
                _ => Earliest((SpecSource[])_sources, from),
            };

            if (best < 0 || best > end)
            {
                return -1;
            }

            if (!Skipped(best))
            {
                return best;
            }

            from = best;
        }

        return -1; // the skips cover everything for a very long stretch: treat as never firing again
    }

    private long Earliest(SpecSource[] sources, long from)
    {
        long best = -1;
        foreach (var source in sources)
        {
            long t = source.Next(from, Zone);
            if (t >= 0 && (best < 0 || t < best))
            {
                best = t;
            }
        }

        return best;
    }

    /// <summary>The delay of an occurrence's start after its instant: fixed per schedule and instant, below the jitter.</summary>
    public long JitterFor(string scheduleId, long ticks)
    {
        if (JitterTicks == 0)
        {
            return 0;
        }

        // FNV-1a over the id, mixed with the instant (SplitMix64): the same on every process, unlike string.GetHashCode.
        ulong h = 14695981039346656037UL;
        foreach (char c in scheduleId)
        {
            h = (h ^ c) * 1099511628211UL;
        }

        h ^= (ulong)ticks;
        h += 0x9E3779B97F4A7C15UL;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9UL;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBUL;
        h ^= h >> 31;
        long milliseconds = JitterTicks / TimeSpan.TicksPerMillisecond;
        return milliseconds == 0 ? 0 : (long)(h % (ulong)milliseconds) * TimeSpan.TicksPerMillisecond;
    }

    /// <summary>The next <paramref name="count"/> fire times after <paramref name="fromTicks"/> (UTC ticks), with what DST did to each.</summary>
    public List<FireTime> Preview(long fromTicks, int count)
    {
        var result = new List<FireTime>(Math.Min(count, 1024));
        long t = fromTicks;
        while (result.Count < count && (t = NextUtc(t)) >= 0)
        {
            result.Add(Describe(t));
        }

        return result;
    }

    private FireTime Describe(long ticks)
    {
        var utc = new DateTime(ticks, DateTimeKind.Utc);
        var local = new DateTimeOffset(utc).ToOffset(Zone.GetUtcOffset(utc));
        var dst = FireTimeDst.None;
        if (Zone.IsAmbiguousTime(local))
        {
            // The wall time occurs twice: doubled when the other pass is a fire time too.
            foreach (var offset in Zone.GetAmbiguousTimeOffsets(local))
            {
                long other = local.DateTime.Ticks - offset.Ticks;
                if (other != ticks && NextUtc(other - 1) == other)
                {
                    dst = FireTimeDst.RepeatedInOverlap;
                }
            }
        }
        else
        {
            // The gap test first: outside a gap it answers from two offsets, where the other test is a search.
            bool moved = _sources switch
            {
                Cronos.CronExpression cron => CronSource.MovedByGap(cron, ticks, Zone) && CronSpec.NextUtc(cron, ticks - 1, Zone, inclusive: false) == ticks,
                SpecSource only => MovedByGap(only, ticks),
                _ => AnyMovedByGap((SpecSource[])_sources, ticks),
            };
            if (moved)
            {
                dst = FireTimeDst.MovedByGap;
            }
        }

        return new FireTime(new DateTimeOffset(utc), local, dst);
    }

    private bool AnyMovedByGap(SpecSource[] sources, long ticks)
    {
        foreach (var source in sources)
        {
            if (MovedByGap(source, ticks))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="ticks"/> is an occurrence of <paramref name="source"/> that a DST gap moved.</summary>
    private bool MovedByGap(SpecSource source, long ticks) => source.MovedByGap(ticks, Zone) && source.Next(ticks - 1, Zone) == ticks;

    private bool Skipped(long ticks)
    {
        if (_limits is null)
        {
            return false;
        }

        foreach (var skip in _limits.Skips)
        {
            if (skip.Matches(ticks, Zone))
            {
                return true;
            }
        }

        return false;
    }

    private static CronSource Calendar(ScheduleCalendar? calendar, string at, bool skip)
    {
        if (calendar is null)
        {
            throw new ScheduleSpecException(at, "is null.");
        }

        string timeDefault = skip ? "*" : "0";
        string?[] values = [calendar.Second, calendar.Minute, calendar.Hour, calendar.DayOfMonth, calendar.Month, calendar.DayOfWeek];
        string[] fields = new string[6];
        for (int f = 0; f < 6; f++)
        {
            string? value = values[f]?.Trim();
            if (value is { Length: 0 } || (value is not null && value.Any(char.IsWhiteSpace)))
            {
                throw new ScheduleSpecException($"{at}.{s_calendarFields[f]}", $"'{values[f]}' is empty or holds spaces; write values, ranges and steps separated by commas.");
            }

            fields[f] = value ?? (f < 3 ? timeDefault : "*");
        }

        YearSet? years;
        try
        {
            years = YearSet.Parse(calendar.Year);
        }
        catch (FormatException e)
        {
            throw new ScheduleSpecException(at + ".Year", e.Message, e);
        }

        try
        {
            return new CronSource(CronSpec.Parse(string.Join(' ', fields), CronFormat.IncludeSeconds), years);
        }
        catch (CronFormatException e)
        {
            int field = Array.IndexOf(s_cronosFields, e.Field);
            throw new ScheduleSpecException(field >= 0 ? $"{at}.{s_calendarFields[field]}" : at, e.Message, e);
        }
    }

    /// <summary>Skips, bounds (UTC ticks) and jitter: kept only by a spec that has any.</summary>
    private sealed class Limits(CronSource[] skips, long start, long end, long jitterTicks)
    {
        public CronSource[] Skips { get; } = skips;

        public long Start { get; } = start;

        public long End { get; } = end;

        public long JitterTicks { get; } = jitterTicks;
    }
}
