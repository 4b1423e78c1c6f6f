using System.Globalization;
using Durable.Scheduling.Cron;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Cron;

/// <summary>
/// DST behaviour, one row per transition: a time in a spring-forward gap fires once when the gap ends; in a
/// fall-back overlap interval expressions fire in both passes and fixed-time expressions fire once (first pass).
/// Each row: expression (6 fields), zone, from (UTC, inclusive), the expected UTC occurrences in order.
/// </summary>
[TestFixture]
public sealed class CronDstTests
{
    private static readonly object[] s_cases =
    [
        // New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z): 02:30 does not exist, fires at 03:00 EDT.
        new object[] { "0 30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", new[] { "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z" } },
        // New York, spring forward: an every-30-minutes schedule skips the missing hour, firing once at 03:00 EDT.
        new object[] { "0 */30 * * * *", "America/New_York", "2026-03-08T06:15:00Z", new[] { "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z" } },
        // New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z): fixed 01:30 fires once, in the EDT pass.
        new object[] { "0 30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", new[] { "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z" } },
        // New York, fall back: an interval expression (every 30 minutes in hour 1) fires in both passes.
        new object[] { "0 */30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", new[] { "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z", "2026-11-02T06:00:00Z" } },
        // London, spring forward 2026-03-29 01:00 GMT -> 02:00 BST: 01:15 does not exist, fires at 02:00 BST (01:00Z).
        new object[] { "0 15 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", new[] { "2026-03-29T01:00:00Z", "2026-03-30T00:15:00Z" } },
        // London, fall back 2026-10-25 02:00 BST -> 01:00 GMT: fixed 01:15 fires once (BST pass, 00:15Z).
        new object[] { "0 15 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", new[] { "2026-10-25T00:15:00Z", "2026-10-26T01:15:00Z" } },
        // London, fall back: hourly at minute 15 (hours '*') fires in both passes of 01:15.
        new object[] { "0 15 * * * *", "Europe/London", "2026-10-24T23:30:00Z", new[] { "2026-10-25T00:15:00Z", "2026-10-25T01:15:00Z", "2026-10-25T02:15:00Z" } },
        // Lord Howe, 30-minute spring forward 2026-10-04 02:00 -> 02:30 (+10:30 -> +11, 15:30Z): 02:15 fires at 02:30.
        new object[] { "0 15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", new[] { "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z" } },
        // Lord Howe, 30-minute fall back 2026-04-05 02:00 -> 01:30 (+11 -> +10:30, 15:00Z): fixed 01:45 fires once.
        new object[] { "0 45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", new[] { "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z" } },
        // Lord Howe, fall back: every 15 minutes in hour 1 fires 01:30 and 01:45 in both passes.
        new object[] { "0 */15 1 * * *", "Australia/Lord_Howe", "2026-04-04T14:20:00Z", new[] { "2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z", "2026-04-05T14:30:00Z" } },
        // Kolkata has no DST (+05:30 all year): 09:00 IST is 03:30Z every day, whatever the season.
        new object[] { "0 0 9 * * *", "Asia/Kolkata", "2026-03-07T00:00:00Z", new[] { "2026-03-07T03:30:00Z", "2026-03-08T03:30:00Z" } },
        new object[] { "0 0 9 * * *", "Asia/Kolkata", "2026-10-31T12:00:00Z", new[] { "2026-11-01T03:30:00Z", "2026-11-02T03:30:00Z" } },
        // UTC has no transitions: the New York spring-forward instant is an ordinary hour.
        new object[] { "0 30 2 * * *", "UTC", "2026-03-08T00:00:00Z", new[] { "2026-03-08T02:30:00Z", "2026-03-09T02:30:00Z" } },
    ];

    [TestCaseSource(nameof(s_cases))]
    public void GetNextOccurrence_FollowsDstRules(string expression, string zoneId, string fromUtc, string[] expected)
    {
        var cron = CronSpec.Parse(expression, CronFormat.IncludeSeconds);
        var zone = zoneId == "UTC" ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var actual = new List<string>();
        DateTime? from = Utc(fromUtc);
        bool inclusive = true;
        for (int i = 0; i < expected.Length && from is not null; i++)
        {
            from = cron.GetNextOccurrence(from.Value, zone, inclusive);
            inclusive = false;
            actual.Add(from?.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "null");
        }

        actual.Should().Equal(expected);
    }

    [TestCaseSource(nameof(s_cases))]
    public void Preview_AgreesWithChainedNext_StartingAFractionBeforeTheFirst(string expression, string zoneId, string fromUtc, string[] expected)
    {
        // The public preview is exclusive of its start: start a tick before, so the first expected occurrence is included.
        var zone = zoneId == "UTC" ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(zoneId);
        var from = new DateTimeOffset(Utc(fromUtc)).AddTicks(-1);
        CronSchedule.GetNextOccurrences(expression, zone, from, expected.Length)
            .Select(d => d.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))
            .Should().Equal(expected);
    }

    [Test]
    public void Preview_ReturnsZoneOffsetOfEachPass()
    {
        // New York fall back 2026-11-01: a fixed 01:30 fires in the first (-04:00) pass only; an interval fires in both.
        var zone = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        var first = CronSchedule.GetNextOccurrences("30 1 * * *", zone, new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.FromHours(-4)), 2);
        first[0].Should().Be(new DateTimeOffset(2026, 11, 1, 1, 30, 0, TimeSpan.FromHours(-4)));
        first[0].Offset.Should().Be(TimeSpan.FromHours(-4));
        first[1].Should().Be(new DateTimeOffset(2026, 11, 2, 1, 30, 0, TimeSpan.FromHours(-5)));

        var every = CronSchedule.GetNextOccurrences("*/30 1 * * *", zone, new DateTimeOffset(2026, 11, 1, 1, 30, 0, TimeSpan.FromHours(-4)), 1);
        every[0].Should().Be(new DateTimeOffset(2026, 11, 1, 1, 0, 0, TimeSpan.FromHours(-5)));
        every[0].Offset.Should().Be(TimeSpan.FromHours(-5));
    }

    [Test]
    public void FixedDailyTime_OverAYear_NeverSkipsOrRepeats_AndTheGapDayFiresAtTheGapsEnd()
    {
        // A fixed 02:30 New York schedule fires exactly once per local day for a whole year, DST days included.
        var zone = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        var all = CronSchedule.GetNextOccurrences("30 2 * * *", zone, new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), 400)
            .Where(t => t.Year == 2026).ToList();
        all.Should().HaveCount(365);
        all.Select(t => t.Date).Should().OnlyHaveUniqueItems();
        all.Should().Contain(new DateTimeOffset(2026, 3, 8, 3, 0, 0, TimeSpan.FromHours(-4)), "02:30 does not exist that day: it fires when the gap ends");
    }

    [TestCase("2027-03-14T06:59:59.0000000Z")]
    [TestCase("2027-03-14T06:59:59.5000000Z")]
    [TestCase("2027-03-14T06:59:59.9999999Z")]
    [TestCase("2027-03-14T06:59:58.1230000Z")]
    public void FixedTimeInTheGap_FromAFractionalSecondJustBefore_FiresAtTheGapsEnd(string fromUtc)
    {
        // The real clock always carries fractions: a search starting in the last second before the gap must not skip
        // the day's occurrence (02:30 in New York on 2027-03-14 fires at 03:00 EDT, 07:00Z).
        var zone = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        CronSpec.Parse("30 2 * * *").NextUtc(Utc(fromUtc).Ticks, zone, inclusive: false)
            .Should().Be(new DateTime(2027, 3, 14, 7, 0, 0, DateTimeKind.Utc).Ticks);
    }

    private static DateTime Utc(string text) =>
        DateTime.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);
}
