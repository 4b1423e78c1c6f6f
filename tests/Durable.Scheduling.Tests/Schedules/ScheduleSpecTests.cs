using Durable.Scheduling.Schedules;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>Specs on their own: what fires when, and what a preview says DST did.</summary>
[TestFixture]
public sealed class ScheduleSpecTests
{
    private static DateTimeOffset Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) => new(y, mo, d, h, mi, s, TimeSpan.Zero);

    private static IReadOnlyList<FireTime> Preview(ScheduleSpec spec, DateTimeOffset from, int count) => CompiledSpec.Compile(spec).Preview(from.UtcTicks, count);

    [TestCase("30s", 30, 0)]
    [TestCase("5m", 300, 0)]
    [TestCase("1h", 3600, 0)]
    [TestCase("1d/9h", 86400, 32400)]
    [TestCase("90S", 90, 0)]
    public void IntervalText_IsRead(string text, int every, int offset)
    {
        var interval = ScheduleInterval.Parse(text);
        interval.Every.Should().Be(TimeSpan.FromSeconds(every));
        interval.Offset.Should().Be(TimeSpan.FromSeconds(offset));
        ScheduleInterval.Parse(interval.ToString()).Should().Be(interval);
    }

    [TestCase("")]
    [TestCase("0s")]
    [TestCase("5")]
    [TestCase("5w")]
    [TestCase("-5m")]
    [TestCase("5m/x")]
    [TestCase("1.5h")]
    public void BadIntervalText_IsRefused_QuotingIt(string text) =>
        FluentActions.Invoking(() => ScheduleInterval.Parse(text)).Should().Throw<ScheduleSpecException>().Which.Message.Should().Contain($"'{text}'");

    [Test]
    public void AnInterval_IsPhasedFromTheEpoch_OnTheUtcTimeLine()
    {
        Preview(new ScheduleSpec { Intervals = [ScheduleInterval.Parse("1d/9h")], TimeZone = "America/New_York" }, Utc(2027, 3, 13), 3)
            .Select(f => f.Instant).Should().Equal(Utc(2027, 3, 13, 9), Utc(2027, 3, 14, 9), Utc(2027, 3, 15, 9));
        Preview(ScheduleSpec.FromInterval("15m"), Utc(2026, 6, 1, 12, 7), 2).Select(f => f.Instant).Should().Equal(Utc(2026, 6, 1, 12, 15), Utc(2026, 6, 1, 12, 30));
    }

    [Test]
    public void SourcesUnite_ASharedInstantFiresOnce_AndSkipsAndBoundsApply()
    {
        var spec = new ScheduleSpec
        {
            Cron = ["0 0 12 * * *"],
            Intervals = [ScheduleInterval.Parse("6h")],
            Calendars = [new ScheduleCalendar { Hour = "12", Minute = "30" }],
            Skip = [new ScheduleCalendar { DayOfWeek = "SUN" }],
            StartAt = Utc(2026, 6, 5, 10),
            EndAt = Utc(2026, 6, 8, 0),
        };
        Preview(spec, Utc(2026, 6, 1), 100).Select(f => f.Instant).Should().Equal(
            Utc(2026, 6, 5, 12), Utc(2026, 6, 5, 12, 30), Utc(2026, 6, 5, 18), // 12:00 from both cron and interval, once
            Utc(2026, 6, 6, 0), Utc(2026, 6, 6, 6), Utc(2026, 6, 6, 12), Utc(2026, 6, 6, 12, 30), Utc(2026, 6, 6, 18),
            Utc(2026, 6, 8, 0)); // Sunday 7 June skipped whole; EndAt inclusive
    }

    [Test]
    public void ACalendar_FiresOnItsFields_InItsZone_WithYearsAndSkips()
    {
        var weekdays = new ScheduleSpec
        {
            Calendars = [new ScheduleCalendar { Hour = "9", DayOfWeek = "MON-FRI", Year = "2026" }],
            Skip = [new ScheduleCalendar { Month = "12", DayOfMonth = "25" }],
            TimeZone = "Europe/London",
        };
        var fires = Preview(weekdays, Utc(2026, 12, 23), 10);
        fires.Select(f => f.LocalTime.ToString("yyyy-MM-dd HH:mm zzz", System.Globalization.CultureInfo.InvariantCulture))
            .Should().Equal("2026-12-23 09:00 +00:00", "2026-12-24 09:00 +00:00", "2026-12-28 09:00 +00:00", "2026-12-29 09:00 +00:00", "2026-12-30 09:00 +00:00", "2026-12-31 09:00 +00:00");
        Preview(new ScheduleSpec { Calendars = [new ScheduleCalendar { Month = "2", DayOfMonth = "29", Year = "2028-2040/4" }] }, Utc(2026, 1, 1), 2)
            .Select(f => f.Instant).Should().Equal(Utc(2028, 2, 29), Utc(2032, 2, 29));
    }

    [Test]
    public void APreview_MarksFireTimesADstGapMoved_AndOnesAnOverlapDoubled_InNewYork()
    {
        var spring = Preview(ScheduleSpec.FromCron("0 30 2 * * *") with { TimeZone = "America/New_York" }, Utc(2027, 3, 13), 3);
        spring.Select(f => (f.LocalTime.ToString("MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture), f.Dst))
            .Should().Equal(("03-13 02:30", FireTimeDst.None), ("03-14 03:00", FireTimeDst.MovedByGap), ("03-15 02:30", FireTimeDst.None));

        var fallInterval = Preview(ScheduleSpec.FromCron("0 */30 1 * * *") with { TimeZone = "America/New_York" }, Utc(2027, 11, 7, 4), 4);
        fallInterval.Select(f => (f.LocalTime.ToString("HH:mm zzz", System.Globalization.CultureInfo.InvariantCulture), f.Dst)).Should().Equal(
            ("01:00 -04:00", FireTimeDst.RepeatedInOverlap), ("01:30 -04:00", FireTimeDst.RepeatedInOverlap),
            ("01:00 -05:00", FireTimeDst.RepeatedInOverlap), ("01:30 -05:00", FireTimeDst.RepeatedInOverlap));

        var fallFixed = Preview(ScheduleSpec.FromCron("0 30 1 * * *") with { TimeZone = "America/New_York" }, Utc(2027, 11, 7, 4), 2);
        fallFixed.Select(f => (f.LocalTime.ToString("MM-dd HH:mm zzz", System.Globalization.CultureInfo.InvariantCulture), f.Dst))
            .Should().Equal([("11-07 01:30 -04:00", FireTimeDst.None), ("11-08 01:30 -05:00", FireTimeDst.None)], "a fixed time fires once: nothing doubled");

        var hourly = Preview(new ScheduleSpec { Intervals = [ScheduleInterval.Parse("1h")], TimeZone = "America/New_York" }, Utc(2027, 11, 7, 3, 59), 4);
        hourly.Select(f => (f.LocalTime.ToString("HH:mm zzz", System.Globalization.CultureInfo.InvariantCulture), f.Dst)).Should().Equal(
            ("00:00 -04:00", FireTimeDst.None), ("01:00 -04:00", FireTimeDst.RepeatedInOverlap), ("01:00 -05:00", FireTimeDst.RepeatedInOverlap), ("02:00 -05:00", FireTimeDst.None));
    }

    [Test]
    public void APreview_MarksLordHowesHalfHourShifts()
    {
        // Lord Howe Island moves by 30 minutes: 02:00 -> 02:30 on the first Sunday of October, 02:00 -> 01:30 on the first Sunday of April.
        var gap = Preview(new ScheduleSpec { Calendars = [new ScheduleCalendar { Hour = "2", Minute = "15" }], TimeZone = "Australia/Lord_Howe" }, Utc(2027, 10, 1), 3);
        gap.Select(f => (f.LocalTime.ToString("MM-dd HH:mm zzz", System.Globalization.CultureInfo.InvariantCulture), f.Dst)).Should().Equal(
            ("10-02 02:15 +10:30", FireTimeDst.None), ("10-03 02:30 +11:00", FireTimeDst.MovedByGap), ("10-04 02:15 +11:00", FireTimeDst.None));

        var overlap = Preview(new ScheduleSpec { Calendars = [new ScheduleCalendar { Hour = "1", Minute = "*/15" }], TimeZone = "Australia/Lord_Howe" }, Utc(2027, 4, 3, 13), 8);
        overlap.Select(f => (f.LocalTime.ToString("HH:mm zzz", System.Globalization.CultureInfo.InvariantCulture), f.Dst)).Should().Equal(
            ("01:00 +11:00", FireTimeDst.None), ("01:15 +11:00", FireTimeDst.None), ("01:30 +11:00", FireTimeDst.RepeatedInOverlap), ("01:45 +11:00", FireTimeDst.RepeatedInOverlap),
            ("01:30 +10:30", FireTimeDst.RepeatedInOverlap), ("01:45 +10:30", FireTimeDst.RepeatedInOverlap), ("01:00 +10:30", FireTimeDst.None), ("01:15 +10:30", FireTimeDst.None));
    }

    [Test]
    public void ASpecWhoseSkipsCoverEverything_NeverFires_AndOneThatEnded_FiresNoMore()
    {
        Preview(new ScheduleSpec { Intervals = [ScheduleInterval.Parse("1h")], Skip = [new ScheduleCalendar()] }, Utc(2026, 1, 1), 5).Should().BeEmpty();
        Preview(ScheduleSpec.FromInterval("1h") with { EndAt = Utc(2026, 1, 1, 2) }, Utc(2026, 1, 1), 5).Select(f => f.Instant).Should().Equal(Utc(2026, 1, 1, 1), Utc(2026, 1, 1, 2));
    }
}
