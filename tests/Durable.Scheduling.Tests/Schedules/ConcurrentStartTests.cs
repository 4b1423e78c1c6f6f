using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>
/// Instances starting at the same moment, all discovering the same <c>[Scheduled]</c> methods (scenario B5): exactly
/// one schedule per name, stored once, whoever wins; restarting them all at once again keeps its runtime state (a
/// pause); every fire time runs once across them.
/// </summary>
[TestFixture]
public sealed class ConcurrentStartTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [TestCase("in memory")]
    [TestCase("SQLite")]
    public async Task EightInstancesStartingAtOnce_StoreEachCodeDefinedScheduleOnce_AndKeepItsStateAcrossAnotherSuchStart(string storeName)
    {
        using var storage = new SharedStorage(storeName, "concurrent-start");
        var first = Enumerable.Range(0, 8).Select(_ => new SchedulerHarness(s_start, [typeof(CodeDefinedSchedules)], store: storage.NewStore())).ToList();
        await Task.WhenAll(first.Select(h => Task.Run(() => h.StartAsync())));
        var listed = await first[3].Scheduler.Schedules.ListAsync(new ScheduleQuery());
        listed.Items.Select(s => s.Id).Should().BeEquivalentTo(["code-interval", "code-hourly"], "one schedule per name, however many instances stored it at once");
        listed.Items.Should().OnlyContain(s => s.CodeDefined);
        var interval = await first[5].Scheduler.Schedules.DescribeAsync("code-interval");
        interval.Version.Should().Be(1, "the instances that lost the race found it stored and changed nothing");

        await first[0].Scheduler.Schedules.PauseAsync("code-hourly", "maintenance");
        await SchedulerHarness.RunTogetherUntilAsync(s_start.AddMinutes(20), TimeSpan.FromSeconds(30), [.. first]);
        foreach (var harness in first)
        {
            await harness.DisposeAsync();
        }

        var second = Enumerable.Range(0, 8).Select(_ => new SchedulerHarness(s_start.AddMinutes(20), [typeof(CodeDefinedSchedules)], store: storage.NewStore())).ToList();
        await Task.WhenAll(second.Select(h => Task.Run(() => h.StartAsync())));
        var hourly = await second[7].Scheduler.Schedules.DescribeAsync("code-hourly");
        hourly.Paused.Should().BeTrue("the pause is runtime state: re-registration from code keeps it");
        hourly.Note.Should().Be("maintenance");
        (await second[2].Scheduler.Schedules.ListAsync(new ScheduleQuery())).Items.Should().HaveCount(2);

        await SchedulerHarness.RunTogetherUntilAsync(s_start.AddMinutes(65), TimeSpan.FromSeconds(30), [.. second]);
        var runs = first.Concat(second).SelectMany(h => h.Log.OfSchedule("code-interval")).ToList();
        runs.Select(r => r.Key).Should().OnlyHaveUniqueItems("each fire time runs once across the instances");
        runs.Select(r => r.Scheduled).Order().Should().Equal(Enumerable.Range(0, 14).Select(i => s_start.AddMinutes(5 * i)), "every five minutes from the first start, none missed across the restart");
        first.Concat(second).SelectMany(h => h.Log.OfSchedule("code-hourly")).Select(r => r.Scheduled)
            .Should().Equal([s_start], "it fired at the start instant, once, before the pause; paused, not at 13:00");

        foreach (var harness in second)
        {
            await harness.DisposeAsync();
        }
    }
}
