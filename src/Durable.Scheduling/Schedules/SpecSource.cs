using Durable.Scheduling.Cron;

namespace Durable.Scheduling.Schedules;

/// <summary>One source of fire times in a compiled spec: a cron expression or calendar (with its years), or an interval.</summary>
internal abstract class SpecSource
{
    /// <summary>The first fire time strictly after <paramref name="fromTicks"/> (UTC ticks), or -1.</summary>
    public abstract long Next(long fromTicks, TimeZoneInfo zone);

    /// <summary>True when a DST gap moved <paramref name="ticks"/> (an occurrence of this source) from a local time that does not exist.</summary>
    public virtual bool MovedByGap(long ticks, TimeZoneInfo zone) => false;
}

/// <summary>A cron expression or calendar, read in the zone by Cronos; a calendar may also allow only some years.</summary>
internal sealed class CronSource(Cronos.CronExpression cron, YearSet? years) : SpecSource
{
    private readonly Cronos.CronExpression _cron = cron;

    public CronSource(CronSpec cron, YearSet? years)
        : this(cron.Expression, years)
    {
    }

    /// <summary>The expression, when it is all there is to this source (no years).</summary>
    public Cronos.CronExpression? Plain => years is null ? _cron : null;

    public override long Next(long fromTicks, TimeZoneInfo zone)
    {
        long t = CronSpec.NextUtc(_cron, fromTicks, zone, inclusive: false);
        while (t >= 0 && years is not null)
        {
            int year = TimeZoneInfo.ConvertTimeFromUtc(new DateTime(t, DateTimeKind.Utc), zone).Year;
            if (years.Contains(year))
            {
                return t;
            }

            int next = years.NextAfter(year);
            if (next < 0)
            {
                return -1;
            }

            // From before the allowed year's local start in any zone (the UTC offset is at most 14 hours), never back.
            long jump = new DateTime(next, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddHours(-15).Ticks;
            t = CronSpec.NextUtc(_cron, Math.Max(jump, t), zone, inclusive: false);
        }

        return t;
    }

    /// <summary>True when the instant's local time matches (a skip calendar).</summary>
    public bool Matches(long ticks, TimeZoneInfo zone) =>
        CronSpec.NextUtc(_cron, ticks - 1, zone, inclusive: false) == ticks &&
        (years is null || years.Contains(TimeZoneInfo.ConvertTimeFromUtc(new DateTime(ticks, DateTimeKind.Utc), zone).Year));

    public override bool MovedByGap(long ticks, TimeZoneInfo zone) => MovedByGap(_cron, ticks, zone);

    /// <summary>True when a DST gap moved <paramref name="ticks"/> (an occurrence of <paramref name="cron"/> in <paramref name="zone"/>) from a local time that does not exist.</summary>
    public static bool MovedByGap(Cronos.CronExpression cron, long ticks, TimeZoneInfo zone)
    {
        // Moved when the instant is where a gap ends and, on the wall clock (read as if it had no DST), the expression
        // wanted a time inside the gap.
        long before = ticks - 1;
        var offsetBefore = zone.GetUtcOffset(new DateTime(before, DateTimeKind.Utc));
        var offsetAt = zone.GetUtcOffset(new DateTime(ticks, DateTimeKind.Utc));
        if (offsetAt <= offsetBefore)
        {
            return false;
        }

        long wallBefore = before + offsetBefore.Ticks;
        long wallAt = ticks + offsetAt.Ticks;
        long wanted = CronSpec.NextUtc(cron, wallBefore, TimeZoneInfo.Utc, inclusive: false);
        return wanted >= 0 && wanted < wallAt;
    }
}

/// <summary>A fixed interval on the UTC time line, phased from the Unix epoch.</summary>
internal sealed class IntervalSource(long everyTicks, long offsetTicks) : SpecSource
{
    public long EveryTicks { get; } = everyTicks;

    public override long Next(long fromTicks, TimeZoneInfo zone)
    {
        long origin = DateTime.UnixEpoch.Ticks + offsetTicks;
        long k = Math.DivRem(fromTicks - origin, EveryTicks, out long rem);
        if (rem < 0)
        {
            k--; // floor for instants before the origin
        }

        return origin + ((k + 1) * EveryTicks);
    }
}
