using System.Diagnostics;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Cron;

[TestFixture]
public sealed class CronExpressionTests
{
    private static readonly DateTime s_from = new(2026, 11, 30, 10, 0, 0, DateTimeKind.Utc);

    [TestCase("0 9 * * *", CronFormat.Auto, "2026-11-30T09:00:00", Description = "five fields: whole minutes")]
    [TestCase("*/30 * * * * *", CronFormat.Auto, "2026-11-30T10:00:30", Description = "six fields: seconds first")]
    [TestCase("0 9 * * MON-FRI", CronFormat.Standard, "2026-11-30T09:00:00", Description = "2026-11-30 is a Monday")]
    [TestCase("0 0 L * *", CronFormat.Standard, "2026-12-31T00:00:00", Description = "exclusive of the start instant")]
    [TestCase("15 10 ? * 6#3", CronFormat.Standard, "2026-12-19T10:15:00")]
    public void Parse_AcceptsFormats_AndFindsOccurrence(string expression, CronFormat format, string expectedUtc)
    {
        var from = new DateTime(2026, 11, 30, 0, 0, 0, DateTimeKind.Utc);
        if (format == CronFormat.Auto && expression.Split(' ').Length == 6)
        {
            from = s_from;
        }

        CronExpression.Parse(expression, format).GetNextOccurrence(from, inclusive: false)
            .Should().Be(DateTime.SpecifyKind(DateTime.Parse(expectedUtc, System.Globalization.CultureInfo.InvariantCulture), DateTimeKind.Utc));
    }

    [TestCase("0 9 * * Sunday", "0 9 * * 0")]
    [TestCase("0 9 * January,Feb *", "0 9 * 1,2 *")]
    [TestCase("0 9 * * monday-FRIDAY", "0 9 * * 1-5")]
    [TestCase("0 9 * * SundayL", "0 9 * * 0L")]
    [TestCase("0 9 * * Friday#2", "0 9 * * 5#2")]
    public void Parse_AcceptsFullNames_AsDbosCrontabDoes(string withNames, string withNumbers)
    {
        CronExpression.Parse(withNames).Should().Be(CronExpression.Parse(withNumbers));
    }

    [TestCase("* * * *", CronFormat.Auto)]
    [TestCase("* * * * * * *", CronFormat.Auto)]
    [TestCase("* * * * * *", CronFormat.Standard)]
    [TestCase("* * * * *", CronFormat.IncludeSeconds)]
    public void Parse_WithWrongFieldCount_ThrowsCronFormatException(string expression, CronFormat format)
    {
        var act = () => CronExpression.Parse(expression, format);
        act.Should().Throw<CronFormatException>().WithMessage("*fields*");
    }

    [Test]
    public void Parse_WhenFieldInvalid_ExceptionNamesFieldAndText()
    {
        var act = () => CronExpression.Parse("0 9 * * MON-XYZ");
        var error = act.Should().Throw<CronFormatException>().Which;
        error.Field.Should().Be("Days of week");
        error.Message.Should().Contain("Days of week").And.Contain("MON-XYZ");
    }

    [Test]
    public void Parse_WhenHashWithoutSeed_ThrowsCronFormatException()
    {
        var act = () => CronExpression.Parse("H * * * *");
        act.Should().Throw<CronFormatException>().Which.Field.Should().Be("Minutes");
    }

    [Test]
    public void Parse_WithSameSeed_DrawsSameHashValues_AndDifferentSeedsSpread()
    {
        var a = CronExpression.Parse("H H * * *", CronFormat.Standard, 42);
        CronExpression.Parse("H H * * *", CronFormat.Standard, 42).Should().Be(a);
        Enumerable.Range(0, 50).Select(seed => CronExpression.Parse("H H * * *", CronFormat.Standard, seed).ToString())
            .Distinct().Count().Should().BeGreaterThan(40, "hashing spreads schedules written the same way");
    }

    [Test]
    public void Parse_Null_ThrowsArgumentNullException()
    {
        var act = () => CronExpression.Parse(null!);
        act.Should().Throw<ArgumentNullException>();
        CronExpression.TryParse(null, out var value).Should().BeFalse();
        value.Should().BeNull();
    }

    [TestCase(DateTimeKind.Local)]
    [TestCase(DateTimeKind.Unspecified)]
    public void GetNextOccurrence_WhenDateTimeNotUtc_ThrowsArgumentException(DateTimeKind kind)
    {
        var cron = CronExpression.Parse("* * * * *");
        var local = new DateTime(2026, 1, 1, 0, 0, 0, kind);
        ((Action)(() => cron.GetNextOccurrence(local))).Should().Throw<ArgumentException>().WithParameterName("fromUtc");
        ((Action)(() => cron.GetNextOccurrence(local, TimeZoneInfo.Utc))).Should().Throw<ArgumentException>();
        ((Action)(() => cron.GetPreviousOccurrence(local))).Should().Throw<ArgumentException>();
        ((Action)(() => cron.GetOccurrences(local, s_from))).Should().Throw<ArgumentException>();
        ((Action)(() => cron.GetOccurrences(s_from, local))).Should().Throw<ArgumentException>().WithParameterName("toUtc");
    }

    [TestCase("0 0 30 2 *", Description = "February never has 30 days")]
    [TestCase("0 0 31 4,6,9,11 *", Description = "30-day months only")]
    [TestCase("0 0 29 * THU#4", Description = "the 4th Thursday is day 22-28")]
    [TestCase("0 0 1-7 * MON#2", Description = "the 2nd Monday is day 8-14")]
    public void GetNextOccurrence_WhenUnreachable_ReturnsNullWithoutLongSearch(string expression)
    {
        var cron = CronExpression.Parse(expression);
        var watch = Stopwatch.StartNew();
        cron.GetNextOccurrence(s_from).Should().BeNull();
        cron.GetPreviousOccurrence(s_from).Should().BeNull();
        cron.GetNextOccurrence(s_from, TimeZoneInfo.FindSystemTimeZoneById("America/New_York")).Should().BeNull();
        cron.GetOccurrences(s_from, DateTime.MaxValue.ToUniversalTime()).Should().BeEmpty();
        _ = watch; // timings are measured in benchmarks, never asserted
    }

    [Test]
    public void GetNextOccurrence_RarelyReachable_IsFound()
    {
        // 29 February that is a Sunday: 2032 is the next after 2026.
        CronExpression.Parse("0 0 29 2 SUN").GetNextOccurrence(s_from).Should().Be(new DateTime(2032, 2, 29, 0, 0, 0, DateTimeKind.Utc));
    }

    [Test]
    public void GetNextOccurrence_AtEndOfTime_ReturnsNull()
    {
        var cron = CronExpression.Parse("* * * * * *", CronFormat.IncludeSeconds);
        cron.GetNextOccurrence(DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc)).Should().BeNull();
        cron.GetNextOccurrence(new DateTime(9999, 12, 31, 23, 59, 59, DateTimeKind.Utc), inclusive: true)
            .Should().Be(new DateTime(9999, 12, 31, 23, 59, 59, DateTimeKind.Utc));
        cron.GetPreviousOccurrence(DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc)).Should().BeNull();
    }

    [Test]
    public void GetPreviousOccurrence_IsInverseOfNext_ForEveryOccurrenceOfAYear()
    {
        var cron = CronExpression.Parse("0 */7 8-18 * * MON-FRI", CronFormat.IncludeSeconds);
        var zone = TimeZoneInfo.FindSystemTimeZoneById("Europe/London");
        var list = cron.GetOccurrences(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), new DateTime(2027, 1, 1, 0, 0, 0, DateTimeKind.Utc), zone).ToList();
        for (int i = 1; i < list.Count; i++)
        {
            cron.GetPreviousOccurrence(list[i], zone).Should().Be(list[i - 1]);
        }
    }

    [Test]
    public void GetOccurrences_IsLazy()
    {
        var cron = CronExpression.Parse("* * * * * *", CronFormat.IncludeSeconds);
        cron.GetOccurrences(s_from, DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc)).Take(3).Should().HaveCount(3);
    }

    [Test]
    public void ToString_RoundTrips()
    {
        var cron = CronExpression.Parse("*/15 9-17 L-2W JAN,jul *", CronFormat.Standard);
        cron.ToString().Should().Be("0-45/15 9,10,11,12,13,14,15,16,17 L-2W 1,7 *", "the range keeps the DST both-passes rule");
        CronExpression.Parse(cron.ToString()).Should().Be(cron);
        var irregular = CronExpression.Parse("0,7,20-21 3 * * *");
        irregular.ToString().Should().Be("0,7,20,21-21 3 * * *");
        CronExpression.Parse(irregular.ToString()).Should().Be(irregular);
    }

    [Test]
    public void Equals_IncludesDstBehaviour()
    {
        // Same instants outside DST, but "0-59" fires in both passes of an overlap while a 60-value list is fixed.
        var list = string.Join(',', Enumerable.Range(0, 60));
        CronExpression.Parse(list + " 1 * * *").Should().NotBe(CronExpression.Parse("* 1 * * *"));
        CronExpression.Parse("0-59 1 * * *").Should().Be(CronExpression.Parse("* 1 * * *"));
    }
}
