using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Schedules;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>When the loop feeds (reads the store, creates occurrences), on a clock that moves while a pass works.</summary>
[TestFixture]
public sealed class FeedTimingTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task AFeedComingDueWhileAPassWorks_IsNotPutOffUntilTheLoopNextWakes()
    {
        // A pass that looked at the clock just before the next feed was due, and did store work (here a lease renewal)
        // while the clock passed it, went to sleep without the feed: its wait left out a feed time already past, so
        // the feed waited for the next wake (up to a poll). A schedule made by another instance was then seen late.
        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o =>
        {
            o.PollInterval = TimeSpan.FromSeconds(1);
            o.LeaseDuration = TimeSpan.FromMilliseconds(2997); // renewals every 999 ms after the claim: just before a feed
        }, flaky);
        await harness.StartAsync();
        await harness.Scheduler.ScheduleAsync("slow-tick", s_start.AddSeconds(10)); // runs 25 s, its lease renewed meanwhile
        await harness.RunUntilAsync(s_start.AddSeconds(10.5));
        harness.Log.Of("slow-tick").Should().ContainSingle();

        // Another instance makes a schedule firing at 11 s: only a feed of this one can find it.
        await flaky.CreateScheduleAsync(new StoredSchedule
        {
            Id = "elsewhere",
            WorkflowName = "tick",
            Definition = new ScheduleDocument { Spec = ScheduleSpec.FromCron("11 * * * * *") }.ToJson(),
            CreatedAt = s_start.AddSeconds(10.5),
            UpdatedAt = s_start.AddSeconds(10.5),
            SpecSince = s_start.AddSeconds(10.5),
        }, default);
        flaky.OnRenew = () =>
        {
            flaky.OnRenew = null;
            harness.Time.Advance(TimeSpan.FromMilliseconds(2)); // the renewal at 10.999 s returns at 11.001 s
        };
        await harness.RunUntilAsync(s_start.AddSeconds(13));

        var run = harness.Log.OfSchedule("elsewhere").Should().ContainSingle().Subject;
        run.Scheduled.Should().Be(s_start.AddSeconds(11));
        (run.Started - run.Scheduled).Should().BeLessThan(TimeSpan.FromMilliseconds(100), "the feed due at 11 s runs as soon as the pass that passed it ends");
    }

    [Test]
    public async Task AnOccurrenceDueBetweenAScheduleBeingMadeAndTheFeedThatFindsIt_RunsUnderEveryPolicy()
    {
        // Made 10 ms before a fire time, by another instance: the feed that finds it comes after that fire time. The
        // scheduler was running and the schedule active, so the occurrence is late, not missed: under
        // ExactlyOncePerIntervalWhenActive it was dropped as if the process had been down.
        var store = new InMemorySchedulingStore();
        var start = s_start.AddMilliseconds(500); // feeds at half seconds
        await using var harness = new SchedulerHarness(start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(1), store);
        await harness.StartAsync();
        await harness.RunUntilAsync(s_start.AddSeconds(9.99));
        var made = s_start.AddSeconds(9.99);
        await store.CreateScheduleAsync(new StoredSchedule
        {
            Id = "elsewhere",
            WorkflowName = "tick",
            Definition = new ScheduleDocument { Spec = ScheduleSpec.FromInterval("1s"), CatchUp = CatchUpPolicy.ExactlyOncePerIntervalWhenActive }.ToJson(),
            CreatedAt = made,
            UpdatedAt = made,
            SpecSince = made,
        }, default);
        await harness.RunUntilAsync(s_start.AddSeconds(12.2));

        harness.Log.OfSchedule("elsewhere").Select(r => r.Scheduled).Should().Equal(s_start.AddSeconds(10), s_start.AddSeconds(11), s_start.AddSeconds(12));
        (await store.GetScheduleAsync("elsewhere", default))!.Counters.Missed.Should().Be(0);
    }

    [Test]
    public async Task AResume_StillSkipsUnderWhenActive_TheFireTimesThatFellWhilePaused_EvenWithinAPoll()
    {
        var store = new InMemorySchedulingStore();
        var logs = new CapturedLogs();
        await using var harness = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store, s => s.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs));
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("1s"), CatchUp = CatchUpPolicy.ExactlyOncePerIntervalWhenActive });
        await harness.RunUntilAsync(s_start.AddSeconds(2.5));
        await schedules.PauseAsync("s");
        await harness.RunUntilAsync(s_start.AddSeconds(200.5)); // past the look-ahead: fire times while paused were never created
        await schedules.ResumeAsync("s");
        await harness.RunUntilAsync(s_start.AddSeconds(203.2));

        harness.Log.OfSchedule("s").Select(r => (int)(r.Scheduled - s_start).TotalSeconds).Should().Equal(1, 2, 201, 202, 203);
        logs.Entries.Should().NotContain(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning, "a pause is chosen: what it skips is no warning");
        // The occurrences made ahead and held are skipped (and logged) by the resume, those never made by the planner.
        logs.Entries.Where(e => e.Event.Id == 24).Select(e => e.Message).Should().AllSatisfy(m => m.Should().Contain("occurrences that fell due while it was paused"))
            .And.Subject.Sum(m => int.Parse(m.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture)).Should().Be(198);
        (await schedules.DescribeAsync("s")).Counters.Missed.Should().Be(198);
    }

    [Test]
    public async Task AResumeMadeElsewhere_JustBeforeAFireTime_RunsThatOccurrence_UnderWhenActive()
    {
        // The occurrence was created ahead and held while paused; the instance holding it learnt of the resume at its
        // next feed, after the fire time, and dropped it as missed while paused, though it came due after the resume.
        var store = new InMemorySchedulingStore();
        var start = s_start.AddMilliseconds(500); // feeds at half seconds
        await using var runner = new SchedulerHarness(start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(1), store);
        await using var admin = new SchedulerHarness(start, [typeof(ScheduleWorkflows)], o => { o.PollInterval = TimeSpan.FromSeconds(1); o.ExecuteRuns = false; }, store);
        await runner.StartAsync();
        await admin.StartAsync();
        await runner.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("1s"), CatchUp = CatchUpPolicy.ExactlyOncePerIntervalWhenActive });
        await runner.RunUntilAsync(s_start.AddSeconds(2.7));
        await runner.Scheduler.Schedules.PauseAsync("s");
        await runner.RunUntilAsync(s_start.AddSeconds(7.99));
        admin.Time.SetUtcNow(s_start.AddSeconds(7.99));
        await admin.Scheduler.Schedules.ResumeAsync("s");
        await runner.RunUntilAsync(s_start.AddSeconds(10.2));

        runner.Log.OfSchedule("s").Select(r => (int)(r.Scheduled - s_start).TotalSeconds).Should().Equal(1, 2, 8, 9, 10);
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive)]
    [TestCase(CatchUpPolicy.Latest)]
    public async Task OccurrencesWaitingBehindARunningOne_AreNotTakenForMissed_WhenAnotherScheduleIsMade(CatchUpPolicy policy)
    {
        // Buffered occurrences wait, pending, for the run ahead of them. Making another schedule had the planner look
        // for missed occurrences, and it took every pending one due more than a poll ago for missed: under these
        // policies the buffer was dropped, though the scheduler ran all along.
        await using var harness = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(1));
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "slow", WorkflowName = "slow-tick", Spec = ScheduleSpec.FromInterval("10s"), Overlap = OverlapPolicy.BufferAll, CatchUp = policy });
        await harness.RunUntilAsync(s_start.AddSeconds(45.5)); // 10 runs until 35; 20 until 60 (25 s each); 30 and 40 wait
        await schedules.CreateAsync(new ScheduleDefinition { Id = "other", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s") });
        await harness.RunUntilAsync(s_start.AddSeconds(90.5));

        harness.Log.OfSchedule("slow").Select(r => (int)(r.Scheduled - s_start).TotalSeconds).Should().Equal([10, 20, 30, 40], "buffered, each runs after the one before it");
        (await schedules.DescribeAsync("slow")).Counters.Missed.Should().Be(0);
    }
}
