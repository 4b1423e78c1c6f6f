using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Packaging;

/// <summary>Each sample runs briefly and does what its header says (the packaging test runs QuickStart from packages).</summary>
[TestFixture]
[Category("Slow")]
[NonParallelizable]
public sealed class SamplesTests
{
    [Test]
    public async Task CronNext_PrintsTheNextFireTimes_AndRefusesABadExpression()
    {
        string project = Path.Combine(RepositoryRoot.Path, "samples", "CronNext");
        var ok = await RepositoryRoot.DotnetAsync(project, TimeSpan.FromMinutes(3), "run", "-c", "Release", "--", "0 9 * * MON-FRI", "America/New_York", "3");
        ok.ExitCode.Should().Be(0, ok.Output);
        ok.Output.Should().Contain("normal form: 0 9 * * 1,2,3,4,5");
        System.Text.RegularExpressions.Regex.Matches(ok.Output, @"09:00:00 -0[45]:00").Should().HaveCount(3, ok.Output);

        var bad = await RepositoryRoot.DotnetAsync(project, TimeSpan.FromMinutes(3), "run", "-c", "Release", "--no-build", "--", "0 9 * * MOON", "UTC", "3");
        bad.ExitCode.Should().Be(2, bad.Output);
        bad.Output.Should().Contain("Days of week");
    }
}
