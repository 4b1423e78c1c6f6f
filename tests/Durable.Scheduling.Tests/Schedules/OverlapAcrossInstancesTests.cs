using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>
/// Overlap policies across instances sharing a store (scenario E3 on several nodes): a schedule whose policy is not
/// AllowAll never has two runs at once, whichever instances claim its occurrences. Two schedulers on one store, each on
/// its own fake clock moved together (which one moves first at each step is drawn, so both claim occurrences); the
/// handler runs 25 s, the schedule fires every 10 s.
/// </summary>
[TestFixture]
public sealed class OverlapAcrossInstancesTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [TestCase("in memory")]
    [TestCase("SQLite")]
    public async Task Skip_OnTwoInstances_NeverOverlaps_AndSkipsWhatFellDueWhileARunWasActiveOnEither(string storeName)
    {
        await WithTwoInstancesAsync(storeName, async (a, b, until) =>
        {
            await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "slow-tick", Spec = ScheduleSpec.FromInterval("10s"), Overlap = OverlapPolicy.Skip });
            await until(125);

            var runs = Runs(a, b);
            NoTwoAtOnce(runs);
            runs.Select(r => Second(r.Scheduled)).Should().Equal([10, 40, 70, 100], "as on one instance: each run spans the next two fire times");
            var skipped = await a.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Skipped] });
            skipped.Items.Select(r => Second(r.ScheduledTime)).Should().Equal(20, 30, 50, 60, 80, 90, 110, 120);
            var counters = (await b.Scheduler.Schedules.DescribeAsync("s")).Counters;
            counters.Runs.Should().Be(4);
            counters.Skipped.Should().Be(8);
        });
    }

    [TestCase("in memory")]
    [TestCase("SQLite")]
    public async Task BufferAll_OnTwoInstances_RunsEveryOccurrenceOnce_OneAtATime(string storeName)
    {
        await WithTwoInstancesAsync(storeName, async (a, b, until) =>
        {
            // Five occurrences (10 to 50 s) to work through, 25 s each.
            await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "slow-tick", Spec = ScheduleSpec.FromInterval("10s"), Overlap = OverlapPolicy.BufferAll, MaxRuns = 5 });
            await until(300);

            var runs = Runs(a, b);
            NoTwoAtOnce(runs);
            runs.Select(r => Second(r.Scheduled)).Order().Should().Equal([10, 20, 30, 40, 50], "each buffered occurrence runs once, none is dropped");
            runs.Select(r => r.Key).Should().OnlyHaveUniqueItems();
            (await a.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Skipped] })).Items.Should().BeEmpty();
        });
    }

    [TestCase("in memory")]
    [TestCase("SQLite")]
    public async Task BufferOne_OnTwoInstances_KeepsOneWaiting_AndDropsTheRest(string storeName)
    {
        await WithTwoInstancesAsync(storeName, async (a, b, until) =>
        {
            await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "slow-tick", Spec = ScheduleSpec.FromInterval("10s"), Overlap = OverlapPolicy.BufferOne, MaxRuns = 5 });
            await until(300);

            var runs = Runs(a, b);
            NoTwoAtOnce(runs);
            runs.Select(r => Second(r.Scheduled)).Should().Equal([10, 20, 40], "as on one instance: 20 waits for 10, 30 finds it waiting and is dropped; 40 waits for 20, 50 is dropped");
            var dropped = await a.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Skipped] });
            dropped.Items.Select(r => Second(r.ScheduledTime)).Should().Equal(30, 50);
            (await a.Scheduler.Schedules.DescribeAsync("s")).Counters.Should().Match<ScheduleCounters>(c => c.Runs == 3 && c.Dropped == 2 && c.Skipped == 0);
        });
    }

    [Test]
    public async Task BufferOne_WhileARunOfItsScheduleRunsElsewhere_KeepsTheEarliestWaiting_AndDropsTheOthers()
    {
        var store = new InMemorySchedulingStore();
        await using var a = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(2), store);
        await a.StartAsync();
        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("1h") });

        // Another instance runs a triggered run of the schedule (claimed straight in the store, under its own name).
        var id = Guid.NewGuid();
        var elsewhere = new ScheduledRun
        {
            Id = id, WorkflowName = "tick", ScheduleId = "s", Kind = RunKind.Triggered, IdempotencyKey = RunKeys.Triggered("s", null, id),
            ScheduledTime = s_start, DueTime = s_start, Status = RunStatus.Pending, CreatedAt = s_start,
        };
        await store.InsertAsync([elsewhere], default);
        var lease = (await store.ClaimAsync([id], s_start, TimeSpan.FromMinutes(5), "another-instance", default)).Single();

        // Backfilled fire times that must wait for it, one at most under BufferOne: all come due here in one pass.
        var backfilled = await a.Scheduler.Schedules.BackfillAsync("s", s_start.AddHours(-4), s_start, OverlapPolicy.BufferOne);
        backfilled.Should().HaveCountGreaterThan(2);
        await a.RunUntilAsync(s_start.AddSeconds(10));
        a.Log.OfSchedule("s").Should().BeEmpty("the schedule's run on the other instance is still running");

        (await store.CompleteAsync([new RunCompletion(id, lease.Token, RunStatus.Succeeded, s_start.AddSeconds(10)) { ScheduleId = "s" }], default)).Should().Equal(true);
        await a.RunUntilAsync(s_start.AddSeconds(20));
        a.Log.OfSchedule("s").Select(r => r.RunId).Should().Equal([backfilled[0]], "the earliest waited and ran once the other ended");
        var dropped = await a.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Skipped] });
        dropped.Items.Select(r => r.Id).Should().BeEquivalentTo(backfilled.Skip(1), "one waits at most: the others were dropped");
    }

    [TestCase("in memory")]
    [TestCase("SQLite")]
    public async Task CancelOther_OnTwoInstances_CancelsTheActiveRunAtEachFireTime_AndNeverRunsTwoAtOnce(string storeName)
    {
        await WithTwoInstancesAsync(storeName, async (a, b, until) =>
        {
            await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "slow-tick", Spec = ScheduleSpec.FromInterval("10s"), Overlap = OverlapPolicy.CancelOther, MaxRuns = 6 });
            await until(120);

            var runs = Runs(a, b);
            runs.Select(r => Second(r.Scheduled)).Should().Equal([10, 20, 30, 40, 50, 60], "each occurrence runs once");
            runs.Should().OnlyContain(r => r.Started - r.Scheduled < TimeSpan.FromSeconds(4), "each starts within two polls of its fire time, not when the run before it would have ended");
            var stored = (await a.Scheduler.ListAsync(new RunQuery { ScheduleId = "s" })).Items.OrderBy(r => r.ScheduledTime).ToList();
            stored.Select(r => r.Status).Should().Equal(RunStatus.Cancelled, RunStatus.Cancelled, RunStatus.Cancelled, RunStatus.Cancelled, RunStatus.Cancelled, RunStatus.Succeeded);
            for (int i = 1; i < stored.Count; i++)
            {
                stored[i].StartedAt.Should().BeOnOrAfter(stored[i - 1].CompletedAt!.Value, "a run starts once the one it cancelled has ended");
            }
        });
    }

    [TestCase("in memory")]
    [TestCase("SQLite")]
    public async Task AllowAll_OnTwoInstances_StillRunsEachOccurrenceAtItsInstant(string storeName)
    {
        await WithTwoInstancesAsync(storeName, async (a, b, until) =>
        {
            await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "slow-tick", Spec = ScheduleSpec.FromInterval("10s") });
            await until(45);

            var runs = Runs(a, b);
            runs.Select(r => (Second(r.Scheduled), Second(r.Started))).Should().Equal((10, 10), (20, 20), (30, 30), (40, 40));
        });
    }

    private static List<RunLog.Invocation> Runs(SchedulerHarness a, SchedulerHarness b) =>
        [.. a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).OrderBy(r => r.Started)];

    /// <summary>Each run takes 25 s: the next may start only once it has ended.</summary>
    private static void NoTwoAtOnce(List<RunLog.Invocation> runs)
    {
        runs.Should().NotBeEmpty();
        for (int i = 1; i < runs.Count; i++)
        {
            (runs[i].Started - runs[i - 1].Started).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(25), $"the run of {Second(runs[i].Scheduled)} s must not start while that of {Second(runs[i - 1].Scheduled)} s runs");
        }
    }

    private static int Second(DateTimeOffset at) => (int)(at - s_start).TotalSeconds;

    private static async Task WithTwoInstancesAsync(string storeName, Func<SchedulerHarness, SchedulerHarness, Func<double, Task>, Task> test)
    {
        using var storage = new SharedStorage(storeName, "overlap");
        await using var a = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(2), storage.NewStore());
        await using var b = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(2), storage.NewStore());
        await a.StartAsync();
        await b.StartAsync();
        // Which instance reaches each step first is drawn (seeded): either may claim an occurrence while the other runs one.
        var random = new Random(7);
        async Task Until(double second)
        {
            var until = s_start.AddSeconds(second);
            for (var at = a.Time.GetUtcNow(); at < until;)
            {
                at = at.AddMilliseconds(250) < until ? at.AddMilliseconds(250) : until;
                var (first, then) = random.Next(2) == 0 ? (a, b) : (b, a);
                await first.RunUntilAsync(at);
                await then.RunUntilAsync(at);
            }
        }

        await test(a, b, Until);
    }
}
