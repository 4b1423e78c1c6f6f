using System.Text.RegularExpressions;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Packaging;

/// <summary>
/// A static gate on SQL built by string interpolation in the shipped stores (scenario G4): every value travels as a
/// parameter, so a hole in an interpolated SQL string may only hold what is reviewed to be safe: a schema identifier
/// validated by the options and quoted, a column list or fragment made of constants, an enum's integer, a number the
/// code computes, or a parameter's name. A new hole fails this test until it is reviewed and listed here.
/// </summary>
[TestFixture]
public sealed class SqlInterpolationGateTests
{
    private static readonly HashSet<string> s_reviewed =
    [
        // Identifiers: validated against ^[A-Za-z_][A-Za-z0-9_]{0,62}$ at start-up and quoted (PostgreSqlSchema.Quote).
        "_runs", "_schedules", "_watermarks", "PostgreSqlSchema.Quote(schema)",
        // Column lists and SQL fragments built only from constants.
        "PostgreSqlSchema.RunColumns", "PostgreSqlSchema.RunColumnsOfR", "PostgreSqlSchema.ScheduleColumns",
        "SqliteSchema.RunColumns", "SqliteSchema.ScheduleColumns", "s_impliedSchedule", "NextSequence",
        "LockSchedulesInOrder(\"c\", \"id\")", "LockSchedulesInOrder(\"outcomes\", \"schedule\")", "LockSchedulesInOrder(\"started\", \"schedule\")",
        "_db.NotifyItem(unclaim, \"due\")", "columns", "column", "source", "order", "qualified", "part", "where", "range",
        "driver.Pair", "Range(query, \"d.scheduled\", \"d.id\")", "(int)statuses[0]", "selected", "alias", "runId", "index",
        "terms", "joins", "probes.Joins", "probes.Terms", "listed", "Range(query, \"m.scheduled\", \"m.run_id\")", "StatusTerms(status)", "StatusTerms(statuses[0])",
        "filters", "scheduled", "id", "condition",
        "DeleteSpecWatermark(\"\")", "DeleteSpecWatermark(\" AND version = @version AND spec_since <> @since\")",
        // Enum values and numbers the code computes (page sizes, indexes of parameter names, versions, pragmas).
        "(int)RunKind.Occurrence", "(int)status", "CountCap", "limit", "size + 1", "i", "v + 1", "pages",
        "(long)Options.BusyTimeout.TotalMilliseconds", "(Options.Synchronous == SqliteSynchronous.Full ? \"FULL\" : \"NORMAL\")",
    ];

    // Statements and the fragments they are assembled from (conditions, orderings, ranges).
    private static readonly Regex s_sqlKeyword = new(@"\b(SELECT|UPDATE|INSERT|DELETE|CREATE|ALTER|DROP|PRAGMA|FROM|WHERE|AND|ORDER BY|LIMIT|VALUES|SET|INDEXED)\b", RegexOptions.Compiled);

    [Test]
    public void InterpolatedSql_InTheStores_HoldsOnlyReviewedExpressions()
    {
        var found = new List<(string File, string Hole)>();
        foreach (string file in Directory.EnumerateFiles(System.IO.Path.Combine(RepositoryRoot.Path, "src"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains("/obj/", StringComparison.Ordinal) || file.Contains("/bin/", StringComparison.Ordinal))
            {
                continue;
            }

            string text = File.ReadAllText(file);
            foreach (Match literal in Regex.Matches(text, "\\$+\"\"\"(.*?)\"\"\"|\\$\"((?:[^\"\\\\\\n]|\\\\.)*)\"", RegexOptions.Singleline))
            {
                string body = literal.Groups[1].Success ? literal.Groups[1].Value : literal.Groups[2].Value;
                if (!s_sqlKeyword.IsMatch(body))
                {
                    continue;
                }

                foreach (Match hole in Regex.Matches(body, @"(?<!\{)\{([^{}]+)\}(?!\})"))
                {
                    found.Add((System.IO.Path.GetFileName(file), hole.Groups[1].Value.Trim()));
                }
            }
        }

        found.Should().NotBeEmpty("the stores do build SQL with reviewed holes: the scan must find them");
        found.Where(f => !s_reviewed.Contains(f.Hole)).Select(f => $"{f.File}: {{{f.Hole}}}")
            .Should().BeEmpty("a value in SQL must travel as a parameter; review a new hole and list it here if it is an identifier, a constant or a computed number");
    }
}
