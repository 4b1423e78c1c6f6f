using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// Each overlap policy with a handler (24 s) longer than the interval (10 s), observed for one minute from 12:00:00
/// (occurrences at 0, 10, 20, 30, 40, 50 and 60 s).
/// </summary>
[TestFixture]
public sealed class OverlapPolicyTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    // (workflow, expected (scheduled second, started second) of every invocation, expected skipped seconds, why)
    private static readonly object[] s_cases =
    [
        new object[] { "overlap-allowall", new[] { (0, 0), (10, 10), (20, 20), (30, 30), (40, 40), (50, 50), (60, 60) }, Array.Empty<int>(), "every occurrence starts on time, concurrently" },
        new object[] { "overlap-skip", new[] { (0, 0), (30, 30), (60, 60) }, new[] { 10, 20, 40, 50 }, "occurrences due while a run is active are skipped" },
        new object[] { "overlap-bufferone", new[] { (0, 0), (10, 24), (30, 48) }, new[] { 20, 40, 60 }, "one waits and starts when the active run ends; a second waiter is skipped" },
        new object[] { "overlap-bufferall", new[] { (0, 0), (10, 24), (20, 48) }, Array.Empty<int>(), "all wait and start one after another" },
        new object[] { "overlap-cancelother", new[] { (0, 0), (10, 10), (20, 20), (30, 30), (40, 40), (50, 50), (60, 60) }, Array.Empty<int>(), "each new occurrence cancels the active run and starts" },
    ];

    [TestCaseSource(nameof(s_cases))]
    public async Task OverlapPolicy_WithHandlerLongerThanInterval_BehavesAsTemporal(string workflow, (int Scheduled, int Started)[] expected, int[] skipped, string why)
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(OverlapWorkflows)]);
        await harness.StartAsync();
        await harness.RunUntilAsync(s_start.AddSeconds(60));

        harness.Log.Of(workflow).Select(r => ((int)(r.Scheduled - s_start).TotalSeconds, (int)(r.Started - s_start).TotalSeconds))
            .Should().Equal(expected, why);
        var skippedRuns = await harness.Scheduler.ListAsync(new RunQuery { WorkflowName = workflow, Statuses = [RunStatus.Skipped] });
        skippedRuns.Items.Select(r => (int)(r.ScheduledTime - s_start).TotalSeconds).Should().Equal(skipped, "a skipped occurrence is recorded, never silently lost");
        foreach (var run in skippedRuns.Items)
        {
            run.Error!.Message.Should().Contain("overlap policy");
        }

        // Code-defined schedules are named after their workflow: each occurrence counts once, as a run or as skipped or dropped.
        var counters = (await harness.Scheduler.Schedules.DescribeAsync(workflow)).Counters;
        counters.Runs.Should().Be(harness.Log.Of(workflow).Count, "only occurrences that started count as runs");
        (counters.Skipped + counters.Dropped).Should().Be(skipped.Length);

        if (workflow == "overlap-cancelother")
        {
            var cancelled = await harness.Scheduler.ListAsync(new RunQuery { WorkflowName = workflow, Statuses = [RunStatus.Cancelled] });
            cancelled.Items.Select(r => (int)(r.ScheduledTime - s_start).TotalSeconds).Should().Equal(0, 10, 20, 30, 40, 50);
        }
    }
}
