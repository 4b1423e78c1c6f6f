using System.Globalization;
using Durable.Scheduling.Cron;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Cron;

/// <summary>
/// Every row of the Cronos 0.13.0 conformance vectors (Data/cronos-cases.tsv), run through this library's thin layer
/// over Cronos (<see cref="CronSpec"/>): they prove that the layer (field count, full names, errors) never changes
/// Cronos's answer. Rows that differ on purpose are listed in Data/PROVENANCE.md and asserted here as the documented
/// difference, never skipped.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.Children)]
public sealed class CronConformanceTests
{
    private static IEnumerable<TestCaseData> Rows(string kind) =>
        CronVector.All.Where(v => v.Kind == kind).Select(v => new TestCaseData(v).SetName($"{{m}}({v.Id})"));

    private static IEnumerable<TestCaseData> NextRows() => Rows("next");

    private static IEnumerable<TestCaseData> PreviousRows() => Rows("prev");

    private static IEnumerable<TestCaseData> ParseErrorRows() => Rows("parse_error");

    private static IEnumerable<TestCaseData> ParseOkRows() => Rows("parse_ok");

    private static IEnumerable<TestCaseData> ToStringRows() => Rows("tostring");

    private static IEnumerable<TestCaseData> EqualRows() => Rows("equal");

    private static IEnumerable<TestCaseData> NotEqualRows() => Rows("not_equal");

    private static IEnumerable<TestCaseData> AcceptedRows() =>
        CronVector.All.Where(v => v.Kind != "parse_error" && !v.UsesHash).Select(v => new TestCaseData(v).SetName($"{{m}}({v.Id})"));

    [TestCaseSource(nameof(NextRows))]
    public void GetNextOccurrence_MatchesCronos(CronVector row)
    {
        if (RefusedAsHash(row))
        {
            return;
        }

        var expression = row.Parse();
        if (row.IsJitteredMacro)
        {
            // Deliberate difference: a macro is read without Cronos's seeded jitter (no seeds here): as Cronos reads it unseeded.
            var cronos = Cronos.CronExpression.Parse(row.Expression, row.CronosFormat);
            Chain(row, (from, inclusive) => expression.GetNextOccurrence(from, row.TimeZone, inclusive))
                .Should().Be(Chain(row, (from, inclusive) => cronos.GetNextOccurrence(from, row.TimeZone, inclusive)), row.ToString());
            return;
        }

        var actual = Chain(row, (from, inclusive) => expression.GetNextOccurrence(from, row.TimeZone, inclusive));
        actual.Should().Be(row.Expected, row.ToString());
    }

    [TestCaseSource(nameof(PreviousRows))]
    public void GetPreviousOccurrence_MatchesCronos(CronVector row)
    {
        if (RefusedAsHash(row))
        {
            return;
        }

        var expression = row.Parse();
        var actual = Chain(row, (from, inclusive) => expression.GetPreviousOccurrence(from, row.TimeZone, inclusive));
        actual.Should().Be(row.Expected, row.ToString());
    }

    [TestCaseSource(nameof(ParseErrorRows))]
    public void Parse_RejectsWhatCronosRejects_NamingTheField(CronVector row)
    {
        if (IsFullNameExtension(row.Expression))
        {
            // Deliberate difference: full day and month names are accepted (DBOS crontab dialect).
            CronSpec.TryParse(row.Expression, row.Format, out _).Should().BeTrue(row.ToString());
            return;
        }

        var parse = () => row.Parse();
        var error = parse.Should().Throw<CronFormatException>(row.ToString()).Which;
        const string Mentions = "message mentions: ";
        if (row.Note.StartsWith(Mentions, StringComparison.Ordinal))
        {
            error.Message.Should().Contain(row.Note[Mentions.Length..], row.ToString());
        }

        CronSpec.TryParse(row.Expression, row.Format, out _).Should().BeFalse();
    }

    [TestCaseSource(nameof(ParseOkRows))]
    public void Parse_AcceptsWhatCronosAccepts(CronVector row)
    {
        if (RefusedAsHash(row))
        {
            return;
        }

        CronSpec.TryParse(row.Expression, row.Format, out var parsed).Should().BeTrue(row.ToString());
        parsed.Should().NotBeNull();
    }

    [TestCaseSource(nameof(ToStringRows))]
    public void ToString_IsCronosNormalForm(CronVector row)
    {
        if (RefusedAsHash(row))
        {
            return;
        }

        var expression = row.Parse();
        expression.ToString().Should().Be(row.Expected, row.ToString());
        CronSpec.Parse(expression.ToString(), CronFormat.Auto).Should().Be(expression, "the normal form parses back to an equal expression");
    }

    [TestCaseSource(nameof(EqualRows))]
    public void Equals_IsStructural(CronVector row)
    {
        if (RefusedAsHash(row))
        {
            return;
        }

        var left = row.Parse();
        var right = CronSpec.Parse(row.Expected, row.Format);
        left.Should().Be(right, row.ToString());
        left.GetHashCode().Should().Be(right.GetHashCode());
    }

    [TestCaseSource(nameof(NotEqualRows))]
    public void Equals_DistinguishesDifferentExpressions(CronVector row)
    {
        if (RefusedAsHash(row))
        {
            return;
        }

        row.Parse().Should().NotBe(CronSpec.Parse(row.Expected, row.Format), row.ToString());
    }

    [TestCaseSource(nameof(AcceptedRows))]
    public void Layer_ParsesTheSameExpressionAsCronos(CronVector row)
    {
        // The normalisation (field count, full names) never changes what Cronos reads from the same text.
        row.Parse().SameAsCronos(row.Expression, row.CronosFormat).Should().BeTrue(row.ToString());
    }

    /// <summary>
    /// Hashed values (<c>H</c>) are not part of this library's dialect: every such row is refused with our one
    /// exception type, naming H, whatever seed the row gives. Returns true when the row was such a row.
    /// </summary>
    private static bool RefusedAsHash(CronVector row)
    {
        if (!row.UsesHash)
        {
            return false;
        }

        var parse = () => row.Parse();
        parse.Should().Throw<CronFormatException>(row.ToString()).WithMessage("*'H'*");
        return true;
    }

    private static bool IsFullNameExtension(string expression) =>
        expression.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Any(token =>
            token.Length > 3 && token.All(char.IsAsciiLetter) &&
            (CultureInfo.InvariantCulture.DateTimeFormat.DayNames.Contains(token, StringComparer.OrdinalIgnoreCase) ||
             CultureInfo.InvariantCulture.DateTimeFormat.MonthNames.Contains(token, StringComparer.OrdinalIgnoreCase)));

    private static string Chain(CronVector row, Func<DateTime, bool, DateTime?> step)
    {
        var results = new List<string>();
        DateTime? from = row.FromUtc!.Value;
        bool inclusive = row.Inclusive;
        for (int i = 0; i < row.Count; i++)
        {
            var next = from is null ? null : step(from.Value, inclusive);
            results.Add(next is null ? "null" : next.Value.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            from = next;
            inclusive = false;
        }

        return string.Join(' ', results);
    }
}
