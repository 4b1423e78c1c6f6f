using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>
/// Schedules with nothing to plan before their next fire time are set aside by the planner, so a pass costs nothing per
/// such schedule: these tests check that they take no planning lock meanwhile, and that they still fire on time,
/// follow the changes made to them while set aside, and are caught up after a gap like any other.
/// </summary>
[TestFixture]
public sealed class SetAsideScheduleTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static ScheduleDefinition Cron(string id, string cron, CatchUpPolicy catchUp = CatchUpPolicy.ExactlyOncePerInterval) =>
        new() { Id = id, WorkflowName = "tick", Spec = ScheduleSpec.FromCron(cron), CatchUp = catchUp };

    private static SchedulerHarness Harness(FlakyStore store) =>
        new(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);

    private static DateTimeOffset At(int hour, int minute) => new(2026, 6, 1, hour, minute, 0, TimeSpan.Zero);

    [Test]
    public async Task PassesWithNothingToPlan_TakeNoPlanningLock_AndTheSchedulesStillFireOnTime()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        int planning = 0;
        store.BeforePlanning = () =>
        {
            Interlocked.Increment(ref planning);
            return Task.CompletedTask;
        };
        await using var harness = Harness(store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Cron("half-past", "0 30 12 * * *"));
        await schedules.CreateAsync(Cron("one", "0 0 13 * * *"));
        await schedules.CreateAsync(new ScheduleDefinition { Id = "hourly", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("1h") });
        await harness.RunForAsync(TimeSpan.FromSeconds(10));

        Volatile.Write(ref planning, 0);
        await harness.RunUntilAsync(At(12, 25));
        Volatile.Read(ref planning).Should().Be(0, "in 25 minutes of 5-second polls no schedule had a fire time within the look-ahead");

        await harness.RunUntilAsync(At(13, 0).AddSeconds(30));
        Volatile.Read(ref planning).Should().BeLessThanOrEqualTo(4, "a pass plans only when a fire time comes within the look-ahead (two instants here)");
        harness.Log.OfSchedule("half-past").Select(r => (r.Scheduled, r.Started)).Should().Equal((At(12, 30), At(12, 30)));
        harness.Log.OfSchedule("one").Select(r => (r.Scheduled, r.Started)).Should().Equal((At(13, 0), At(13, 0)));
        harness.Log.OfSchedule("hourly").Select(r => (r.Scheduled, r.Started)).Should().Equal((At(13, 0), At(13, 0)));
        (await schedules.DescribeAsync("one")).NextFireTimes[0].Instant.Should().Be(At(13, 0).AddDays(1));
    }

    [Test]
    public async Task AStartWhereNothingFellDue_WritesNoWatermark_AndTheSchedulesFireOnTime()
    {
        // Schedules that never made an occurrence have no stored watermark: a start used to write one for each (nothing
        // missed, nothing to persist), a write as large as the book.
        var inner = new InMemorySchedulingStore();
        await using (var before = Harness(new FlakyStore(inner)))
        {
            await before.StartAsync();
            for (int i = 0; i < 20; i++)
            {
                await before.Scheduler.Schedules.CreateAsync(Cron("daily-" + i, "0 0 13 * * *"));
            }

            await before.RunUntilAsync(At(12, 5));
            await before.StopAsync();
        }

        var store = new FlakyStore(inner);
        int advanced = 0;
        store.OnAdvanceWatermarks = values => Interlocked.Add(ref advanced, values.Count);
        await using var after = new SchedulerHarness(At(12, 10), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await after.StartAsync();
        await after.RunUntilAsync(At(12, 20));
        Volatile.Read(ref advanced).Should().Be(0, "no fire time fell due between the schedules' creation and this start");

        await after.RunUntilAsync(At(13, 0).AddSeconds(30));
        Enumerable.Range(0, 20).SelectMany(i => after.Log.OfSchedule("daily-" + i)).Select(r => (r.Scheduled, r.Started))
            .Should().HaveCount(20).And.AllBeEquivalentTo((At(13, 0), At(13, 0)));
    }

    [Test]
    public async Task AScheduleChangedThousandsOfTimesWhileSetAside_AndTheOthers_StillFireOnce_AtTheirLatestSpec()
    {
        // Each change sets a new state aside and leaves the old one's queue entry behind, until the queue is rebuilt
        // with the current states only: none of those may be lost in the rebuild.
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Cron("changed", "0 0 13 * * *"));
        await schedules.CreateAsync(Cron("other", "0 0 13 * * *"));
        for (int i = 1; i <= 1500; i++)
        {
            string cron = i % 2 == 0 ? "0 0 13 * * *" : "0 30 13 * * *";
            await schedules.UpdateAsync("changed", d => d with { Spec = ScheduleSpec.FromCron(cron) });
            await harness.RunForAsync(TimeSpan.FromSeconds(1));
        }

        await harness.RunUntilAsync(At(14, 0));
        harness.Log.OfSchedule("changed").Select(r => (r.Scheduled, r.Started)).Should().Equal([(At(13, 0), At(13, 0))], "its last spec (an even change) fires at 13:00");
        harness.Log.OfSchedule("other").Select(r => (r.Scheduled, r.Started)).Should().Equal([(At(13, 0), At(13, 0))]);
    }

    [Test]
    public async Task SchedulesSetAside_FollowTheChangesMadeMeanwhile_AndAreCaughtUpAfterAGap()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Cron("kept", "0 0 13 * * *"));
        await schedules.CreateAsync(Cron("moved", "0 0 13 * * *"));
        await schedules.CreateAsync(Cron("deleted", "0 0 13 * * *"));
        await schedules.CreateAsync(Cron("paused", "0 0 13 * * *"));
        await schedules.CreateAsync(Cron("latest", "0 0 * * * *", CatchUpPolicy.Latest));
        await schedules.CreateAsync(Cron("every-one", "0 0 * * * *"));
        await harness.RunUntilAsync(At(12, 10));

        // Changed while set aside (their next fire time is far past the look-ahead).
        await schedules.UpdateAsync("moved", d => d with { Spec = ScheduleSpec.FromCron("0 45 12 * * *") });
        await schedules.DeleteAsync("deleted");
        await schedules.PauseAsync("paused");
        await harness.RunUntilAsync(At(13, 30));
        await schedules.ResumeAsync("paused");
        await harness.RunUntilAsync(At(13, 40));

        // A gap: nothing runs from 13:40 to 15:10 (the process froze, say); 14:00 and 15:00 fell due meanwhile.
        harness.Time.SetUtcNow(At(15, 10));
        await harness.SettleAsync();
        await harness.RunUntilAsync(At(15, 20));

        harness.Log.OfSchedule("kept").Select(r => r.Scheduled).Should().Equal(At(13, 0));
        harness.Log.OfSchedule("moved").Select(r => r.Scheduled).Should().Equal([At(12, 45)], "its update applied while it was set aside, before its old fire time came near");
        harness.Log.OfSchedule("deleted").Should().BeEmpty();
        harness.Log.OfSchedule("paused").Select(r => (r.Scheduled, r.Started)).Should().Equal([(At(13, 0), At(13, 30))], "13:00 fell in the pause: caught up at the resume");
        harness.Log.OfSchedule("latest").Select(r => (r.Scheduled, r.Started)).Should().Equal([(At(13, 0), At(13, 0)), (At(15, 0), At(15, 10))], "of 14:00 and 15:00, missed in the gap, only the latest runs");
        // 14:00 and 15:00 start together at 15:10, on two threads: the log has them in either order.
        harness.Log.OfSchedule("every-one").OrderBy(r => r.Scheduled).Select(r => (r.Scheduled, r.Started)).Should().Equal([(At(13, 0), At(13, 0)), (At(14, 0), At(15, 10)), (At(15, 0), At(15, 10))], "each fire time missed in the gap runs once");
        (await schedules.DescribeAsync("latest")).Counters.Missed.Should().Be(1);
    }
}
