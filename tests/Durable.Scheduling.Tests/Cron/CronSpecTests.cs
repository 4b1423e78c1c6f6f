using Durable.Scheduling.Cron;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Cron;

/// <summary>What this library adds over Cronos: the field count, full names, one exception naming the field, no H.</summary>
[TestFixture]
public sealed class CronSpecTests
{
    private static readonly DateTime s_from = new(2026, 11, 30, 10, 0, 0, DateTimeKind.Utc);

    [TestCase("0 9 * * *", "2026-11-30T09:00:00", Description = "five fields: whole minutes")]
    [TestCase("*/30 * * * * *", "2026-11-30T10:00:30", Description = "six fields: seconds first")]
    [TestCase("@every_second", "2026-11-30T10:00:01", Description = "a macro")]
    [TestCase("@daily", "2026-12-01T00:00:00")]
    public void Auto_LetsTheFieldCountDecide(string expression, string expectedUtc)
    {
        var from = expression.Split(' ').Length == 6 || expression.StartsWith('@') ? s_from : new DateTime(2026, 11, 30, 0, 0, 0, DateTimeKind.Utc);
        CronSpec.Parse(expression, CronFormat.Auto).GetNextOccurrence(from, TimeZoneInfo.Utc)
            .Should().Be(DateTime.SpecifyKind(DateTime.Parse(expectedUtc, System.Globalization.CultureInfo.InvariantCulture), DateTimeKind.Utc));
    }

    [TestCase("0 9 * * Sunday", "0 9 * * 0")]
    [TestCase("0 9 * January,Feb *", "0 9 * 1,2 *")]
    [TestCase("0 9 * * monday-FRIDAY", "0 9 * * 1-5")]
    [TestCase("0 9 * * SundayL", "0 9 * * 0L")]
    [TestCase("0 9 * * Friday#2", "0 9 * * 5#2")]
    [TestCase("0 9 * SEPTEMBER WEDNESDAY", "0 9 * 9 3")]
    public void FullNames_AreAccepted_AsDbosCrontabDoes(string withNames, string withNumbers)
    {
        CronSpec.Parse(withNames).Should().Be(CronSpec.Parse(withNumbers));
    }

    [TestCase("* * * *", CronFormat.Auto)]
    [TestCase("* * * * * * *", CronFormat.Auto)]
    [TestCase("* * * * * *", CronFormat.Standard)]
    [TestCase("* * * * *", CronFormat.IncludeSeconds)]
    public void WrongFieldCount_ThrowsCronFormatException_SayingWhatWasExpected(string expression, CronFormat format)
    {
        var act = () => CronSpec.Parse(expression, format);
        act.Should().Throw<CronFormatException>().WithMessage("*fields*").Which.Field.Should().BeNull();
    }

    [TestCase("0 9 * * MON-XYZ", "Days of week")]
    [TestCase("0 61 9 * * *", "Minutes")]
    [TestCase("0 9 32 * *", "Days of month")]
    [TestCase("0 25 * * *", "Hours")]
    [TestCase("0 9 * 13 *", "Months")]
    [TestCase("60 * * * * *", "Seconds")]
    public void InvalidField_ExceptionNamesFieldAndQuotesText(string expression, string field)
    {
        var act = () => CronSpec.Parse(expression);
        var error = act.Should().Throw<CronFormatException>().Which;
        error.Field.Should().Be(field);
        error.Message.Should().StartWith(field + ":").And.Contain(expression);
    }

    [TestCase("H * * * *")]
    [TestCase("0 H/30 * * * *")]
    public void Hash_IsRefused_WithOurException(string expression)
    {
        var act = () => CronSpec.Parse(expression);
        act.Should().Throw<CronFormatException>().WithMessage("*'H'*");
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("   ")]
    public void Empty_ThrowsCronFormatException(string? expression)
    {
        var act = () => CronSpec.Parse(expression);
        act.Should().Throw<CronFormatException>().WithMessage("*empty*");
        CronSpec.TryParse(expression, CronFormat.Auto, out var none).Should().BeFalse();
        none.Should().BeNull();
    }

    /// <summary>
    /// The five ways the former hand-written engine drifted from Cronos (an independent differential run found them):
    /// each now answers as Cronos does, because Cronos answers.
    /// </summary>
    [TestCase("0 0 * * 1/2", true, Description = "a day-of-week step reaching Sunday as 7")]
    [TestCase("0 0 * * MON/2", true)]
    [TestCase("0 0 * * 7/3", true)]
    [TestCase("005 * * * *", false, Description = "three or more digits")]
    [TestCase("*,5 * * * *", false, Description = "* inside a list")]
    public void FormerDrifts_AnswerAsCronos(string expression, bool cronosAccepts)
    {
        bool ours = CronSpec.TryParse(expression, CronFormat.Standard, out var spec);
        ours.Should().Be(cronosAccepts);
        if (ours)
        {
            spec!.SameAsCronos(expression, Cronos.CronFormat.Standard).Should().BeTrue();
        }
    }

    [Test]
    public void OneValueRangeInATimeField_FiresInBothPassesOfAFallBack_AsCronosDoes()
    {
        // New York falls back on 2026-11-01 at 02:00 EDT: "1-1" in the hours field is an interval, so 01:30 fires twice.
        var zone = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        var spec = CronSpec.Parse("30 1-1 * * *");
        long first = spec.NextUtc(new DateTime(2026, 11, 1, 4, 0, 0, DateTimeKind.Utc).Ticks, zone, inclusive: false);
        long second = spec.NextUtc(first, zone, inclusive: false);
        new DateTime(first, DateTimeKind.Utc).Should().Be(new DateTime(2026, 11, 1, 5, 30, 0, DateTimeKind.Utc));
        new DateTime(second, DateTimeKind.Utc).Should().Be(new DateTime(2026, 11, 1, 6, 30, 0, DateTimeKind.Utc));
    }

    [Test]
    public void NextUtc_WhenNoneLeft_ReturnsMinusOne()
    {
        CronSpec.Parse("0 0 30 2 *").NextUtc(s_from.Ticks, TimeZoneInfo.Utc, inclusive: false).Should().Be(-1);
    }
}
