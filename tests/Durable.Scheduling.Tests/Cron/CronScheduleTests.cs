using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Cron;

/// <summary>The public preview and check of expressions (what the CronNext sample uses).</summary>
[TestFixture]
public sealed class CronScheduleTests
{
    private static readonly TimeZoneInfo s_newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    [TestCase("* * * * *", "UTC", 0, 0)]
    [TestCase("* * * * *", "Pacific/Kiritimati", -1, 0)]
    [TestCase("0 0 1 1 *", "UTC", -24 * 200, 0)]
    [TestCase("0 0 1 1 *", "Pacific/Kiritimati", -24 * 500, 1)]
    public void GetNextOccurrences_AtTheEndOfTheCalendar_ReturnsWhatIsLeft_NotAnOverflow(string expression, string zone, int hoursBeforeTheEnd, int left)
    {
        // From DateTimeOffset.MaxValue the search failed inside the calendar ("Ticks must be between...").
        var from = DateTimeOffset.MaxValue.AddHours(hoursBeforeTheEnd);
        CronSchedule.GetNextOccurrences(expression, TimeZoneInfo.FindSystemTimeZoneById(zone), from, 3).Should().HaveCount(left);
    }

    [Test]
    public void GetNextOccurrences_ReturnsCount_InTheZonesOffset_StrictlyAfterFrom()
    {
        var from = new DateTimeOffset(2026, 11, 30, 14, 0, 0, TimeSpan.Zero); // 09:00 in New York, a Monday
        var next = CronSchedule.GetNextOccurrences("0 9 * * MON-FRI", s_newYork, from, 3);
        next.Should().Equal(
            new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.FromHours(-5)),
            new DateTimeOffset(2026, 12, 2, 9, 0, 0, TimeSpan.FromHours(-5)),
            new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.FromHours(-5)));
        next.Should().OnlyContain(t => t.Offset == TimeSpan.FromHours(-5));
    }

    [Test]
    public void GetNextOccurrences_StopsWhenTheExpressionHasNoMore()
    {
        CronSchedule.GetNextOccurrences("0 0 30 2 *", TimeZoneInfo.Utc, DateTimeOffset.UnixEpoch, 5).Should().BeEmpty();
    }

    [Test]
    public void GetNextOccurrences_RefusesBadArguments_NamingThem()
    {
        var now = DateTimeOffset.UnixEpoch;
        ((Action)(() => CronSchedule.GetNextOccurrences("* * * * *", null!, now, 1))).Should().Throw<ArgumentNullException>().WithParameterName("zone");
        ((Action)(() => CronSchedule.GetNextOccurrences("* * * * *", TimeZoneInfo.Utc, now, -1))).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("count");
        ((Action)(() => CronSchedule.GetNextOccurrences("* * * * *", TimeZoneInfo.Utc, now, CronSchedule.MaxPreviewCount + 1))).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("count");
        ((Action)(() => CronSchedule.GetNextOccurrences("* * *", TimeZoneInfo.Utc, now, 1))).Should().Throw<CronFormatException>();
    }

    [Test]
    public void Validate_AndNormalize()
    {
        CronSchedule.Normalize("0 9 * * Monday").Should().Be("0 9 * * 1");
        CronSchedule.Normalize("*/30 * * * * *").Should().Be("0,30 * * * * *");
        ((Action)(() => CronSchedule.Validate("0 9 * * Moonday"))).Should().Throw<CronFormatException>().Which.Field.Should().Be("Days of week");
        ((Action)(() => CronSchedule.Validate("* * * * *", (CronFormat)7))).Should().Throw<ArgumentOutOfRangeException>();
    }
}
