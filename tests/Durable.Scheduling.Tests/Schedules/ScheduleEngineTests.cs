using System.Globalization;
using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>Schedules through the engine: DST days in two zones, code-defined schedules, several instances on one store.</summary>
[TestFixture]
public sealed class ScheduleEngineTests
{
    /// <summary>One instance of a fleet sharing <paramref name="store"/>, polling every <paramref name="pollSeconds"/> seconds.</summary>
    private static SchedulerHarness Instance(ISchedulingStore store, DateTimeOffset start, int pollSeconds, Action<IServiceCollection>? services = null) =>
        new(start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(pollSeconds), store, services);

    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 3, TimeSpan.Zero);

    private static string Local(DateTimeOffset instant, string zone)
    {
        var tz = TimeZoneInfo.FindSystemTimeZoneById(zone);
        return TimeZoneInfo.ConvertTime(instant, tz).ToString("MM-dd HH:mm zzz", CultureInfo.InvariantCulture);
    }

    private static readonly object[] s_dstDays =
    [
        new object[] { "America/New_York", new DateTimeOffset(2027, 3, 13, 12, 0, 0, TimeSpan.Zero) },
        new object[] { "America/New_York", new DateTimeOffset(2027, 11, 6, 12, 0, 0, TimeSpan.Zero) },
        new object[] { "Australia/Lord_Howe", new DateTimeOffset(2027, 10, 2, 0, 0, 0, TimeSpan.Zero) },
        new object[] { "Australia/Lord_Howe", new DateTimeOffset(2027, 4, 3, 0, 0, 0, TimeSpan.Zero) },
    ];

    [TestCaseSource(nameof(s_dstDays))]
    public async Task IntervalAndCalendarSchedules_AcrossADstDay_RunEachFireTimeOnce_AsPreviewed(string zone, DateTimeOffset start)
    {
        await using var harness = new SchedulerHarness(start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(30));
        await harness.StartAsync();
        var specs = new Dictionary<string, ScheduleSpec>
        {
            ["hourly"] = new ScheduleSpec { Intervals = [ScheduleInterval.Parse("1h")], TimeZone = zone },
            ["half-past-two"] = new ScheduleSpec { Calendars = [new ScheduleCalendar { Hour = "2", Minute = "30" }], TimeZone = zone },
            ["quarter-hours-at-one"] = new ScheduleSpec { Calendars = [new ScheduleCalendar { Hour = "1", Minute = "*/15" }], TimeZone = zone },
            ["two-fifteen"] = new ScheduleSpec { Calendars = [new ScheduleCalendar { Hour = "2", Minute = "15" }], TimeZone = zone },
        };
        foreach (var (id, spec) in specs)
        {
            await harness.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = id, WorkflowName = "tick", Spec = spec });
        }

        var end = start.AddDays(2);
        await harness.RunUntilAsync(end);

        foreach (var (id, spec) in specs)
        {
            var ran = harness.Log.OfSchedule(id).Select(r => r.Scheduled).ToList();
            var previewed = harness.Scheduler.Schedules.Preview(spec, 1000, start).Select(f => f.Instant).TakeWhile(t => t <= end).ToList();
            ran.Should().Equal(previewed, $"{id} runs each previewed fire time once, in order");
            harness.Log.OfSchedule(id).Should().AllSatisfy(r => r.Started.Should().Be(r.Scheduled));
        }

        harness.Log.OfSchedule("hourly").Should().HaveCount(48, "an interval is absolute: 24 a day whatever DST does");
        var quarterHours = harness.Log.OfSchedule("quarter-hours-at-one").Select(r => Local(r.Scheduled, zone)).ToList();
        var twoFifteen = harness.Log.OfSchedule("two-fifteen").Select(r => Local(r.Scheduled, zone)).ToList();
        var halfPastTwo = harness.Log.OfSchedule("half-past-two").Select(r => Local(r.Scheduled, zone)).ToList();
        switch (zone, start.Month)
        {
            case ("America/New_York", 3):
                halfPastTwo.Should().Equal("03-14 03:00 -04:00", "03-15 02:30 -04:00"); // 02:30 does not exist on the 14th
                quarterHours.Should().HaveCount(8);
                break;
            case ("America/New_York", 11):
                quarterHours.Should().Equal("11-07 01:00 -04:00", "11-07 01:15 -04:00", "11-07 01:30 -04:00", "11-07 01:45 -04:00",
                    "11-07 01:00 -05:00", "11-07 01:15 -05:00", "11-07 01:30 -05:00", "11-07 01:45 -05:00", "11-08 01:00 -05:00", "11-08 01:15 -05:00", "11-08 01:30 -05:00", "11-08 01:45 -05:00");
                halfPastTwo.Should().Equal("11-07 02:30 -05:00", "11-08 02:30 -05:00");
                break;
            case ("Australia/Lord_Howe", 10):
                twoFifteen.Should().Equal("10-03 02:30 +11:00", "10-04 02:15 +11:00"); // 02:00-02:30 does not exist on the 3rd
                halfPastTwo.Should().Equal("10-03 02:30 +11:00", "10-04 02:30 +11:00");
                break;
            case ("Australia/Lord_Howe", 4):
                quarterHours.Where(t => t.StartsWith("04-04", StringComparison.Ordinal)).Should().Equal(
                    "04-04 01:00 +11:00", "04-04 01:15 +11:00", "04-04 01:30 +11:00", "04-04 01:45 +11:00", "04-04 01:30 +10:30", "04-04 01:45 +10:30");
                break;
        }
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(430)]
    [TestCase(999)]
    public async Task AnIntervalCodeSchedulesFirstRun_IsAtTheFirstStart_OrTheWholeSecondAfterIt_WhenTheStartIsBetweenSeconds(int milliseconds)
    {
        // A real start is rarely on a whole second; an interval's offset is whole seconds.
        var start = s_start.AddMilliseconds(milliseconds);
        var first = new DateTimeOffset(start.UtcTicks + ((TimeSpan.TicksPerSecond - (start.UtcTicks % TimeSpan.TicksPerSecond)) % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        await using var harness = new SchedulerHarness(start, [typeof(CodeDefinedSchedules), typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), new InMemorySchedulingStore());
        await harness.StartAsync();
        await harness.RunUntilAsync(start.AddMinutes(6));

        harness.Log.OfSchedule("code-interval").Select(r => r.Scheduled).Should().Equal(first, first.AddMinutes(5));
        (first - start).Should().BeLessThan(TimeSpan.FromSeconds(1));
    }

    [Test]
    public async Task CodeDefinedSchedules_AreStoredBeforeStartUpReturns_SoTheAppsNextLineCanManageThem()
    {
        // What an app writes after starting its host: pause a code-defined schedule. They were stored by the loop's first
        // pass, after start-up returned, and the call could find no such schedule. A slow store write makes that race
        // certain without the fix.
        var store = new FlakyStore(new InMemorySchedulingStore()) { BeforeScheduleCreate = () => Task.Delay(50) };
        await using var harness = new SchedulerHarness(s_start, [typeof(CodeDefinedSchedules), typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await harness.StartAsync(settle: false);

        var schedules = harness.Scheduler.Schedules;
        await schedules.PauseAsync("code-hourly", "paused at start-up");
        (await schedules.DescribeAsync("code-interval")).CodeDefined.Should().BeTrue();
        await harness.RunUntilAsync(s_start.AddHours(1));
        harness.Log.OfSchedule("code-hourly").Should().BeEmpty("paused before its first fire time, at 13:00, came due");
        harness.Log.OfSchedule("code-interval").Should().HaveCount(13);
        (await schedules.DescribeAsync("code-hourly")).Note.Should().Be("paused at start-up");
    }

    [Test]
    public async Task CodeDefinedSchedules_AreStored_WhenTheStoreFailedAtStartUp_OnceItAnswers()
    {
        var store = new FlakyStore(new InMemorySchedulingStore()) { Down = true };
        await using var harness = new SchedulerHarness(s_start, [typeof(CodeDefinedSchedules), typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await harness.StartAsync();
        store.Failures.Should().BePositive();

        store.Down = false;
        await harness.RunUntilAsync(s_start.AddMinutes(11));
        (await harness.Scheduler.Schedules.DescribeAsync("code-interval")).CodeDefined.Should().BeTrue();
        harness.Log.OfSchedule("code-interval").Should().NotBeEmpty();
    }

    [Test]
    public async Task CodeDefinedSchedules_AreListed_Paused_Triggered_ButNeverUpdatedOrDeleted_AndAnIntervalsFirstRunIsImmediate()
    {
        var store = new InMemorySchedulingStore();
        await using (var harness = new SchedulerHarness(s_start, [typeof(CodeDefinedSchedules), typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store))
        {
            await harness.StartAsync();
            await harness.RunUntilAsync(s_start.AddMinutes(11));
            harness.Log.OfSchedule("code-interval").Select(r => r.Scheduled).Should().Equal(s_start, s_start.AddMinutes(5), s_start.AddMinutes(10));
            harness.Log.OfSchedule("code-interval").Should().AllSatisfy(r => r.Key.Should().Be(RunKeys.Occurrence("code-interval", r.Scheduled)));

            var schedules = harness.Scheduler.Schedules;
            var listed = (await schedules.ListAsync(new ScheduleQuery())).Items;
            listed.Select(s => (s.Id, s.CodeDefined)).Should().Equal(("code-hourly", true), ("code-interval", true));
            var described = await schedules.DescribeAsync("code-interval");
            described.Counters.Succeeded.Should().Be(3);
            described.Definition.Spec.Intervals.Single().Should().Be(new ScheduleInterval(TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(3)));

            (await FluentActions.Awaiting(() => schedules.UpdateAsync("code-interval", d => d with { Spec = ScheduleSpec.FromInterval("1m") }).AsTask())
                .Should().ThrowAsync<ScheduleStateException>()).Which.Reason.Should().Be(ScheduleRefusal.CodeDefined);
            (await FluentActions.Awaiting(() => schedules.DeleteAsync("code-interval").AsTask()).Should().ThrowAsync<ScheduleStateException>())
                .Which.Message.Should().Contain("[Scheduled]");
            (await FluentActions.Awaiting(() => schedules.CreateAsync(new ScheduleDefinition { Id = "code-hourly", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("1m") }).AsTask())
                .Should().ThrowAsync<ScheduleStateException>()).Which.Reason.Should().Be(ScheduleRefusal.AlreadyExists);

            await schedules.PauseAsync("code-interval", "quiet hours");
            var triggered = await schedules.TriggerAsync("code-interval");
            await harness.RunUntilAsync(s_start.AddMinutes(21));
            harness.Log.OfSchedule("code-interval").Select(r => r.RunId).Should().EndWith(triggered.Id, "a trigger runs while paused; no occurrence does");
            harness.Log.OfSchedule("code-interval").Should().HaveCount(4);
        }

        // A restart re-applies the spec from code and keeps the state: still paused, same phase, counters kept.
        await using (var harness = new SchedulerHarness(s_start.AddMinutes(30), [typeof(CodeDefinedSchedules), typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store))
        {
            await harness.StartAsync();
            await harness.RunUntilAsync(s_start.AddMinutes(40));
            harness.Log.OfSchedule("code-interval").Should().BeEmpty("the pause survived the restart");
            var described = await harness.Scheduler.Schedules.DescribeAsync("code-interval");
            described.Paused.Should().BeTrue();
            described.Note.Should().Be("quiet hours");
            described.Counters.Succeeded.Should().Be(4);
            await harness.Scheduler.Schedules.ResumeAsync("code-interval");
            await harness.RunUntilAsync(s_start.AddMinutes(46));
            harness.Log.OfSchedule("code-interval").Select(r => r.Scheduled).Should().EndWith(s_start.AddMinutes(45), "the phase set at the first start is kept");
        }

        // The code is gone: the schedule is reported, never run against a missing handler.
        var logs = new CapturedLogs();
        await using (var harness = new SchedulerHarness(s_start.AddMinutes(50), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store, s => s.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs)))
        {
            await harness.StartAsync();
            await harness.RunUntilAsync(s_start.AddMinutes(70));
            harness.Log.Invocations.Should().BeEmpty();
            var described = await harness.Scheduler.Schedules.DescribeAsync("code-hourly");
            described.Orphaned.Should().BeTrue();
            described.CodeDefined.Should().BeTrue();
            logs.Entries.Select(e => e.Message).Should().Contain(m => m.Contains("code-hourly", StringComparison.Ordinal) && m.Contains("does not define", StringComparison.Ordinal));
        }
    }

    [Test]
    public async Task ACodeDefinedScheduleChangedInCode_IsReappliedAtStart_KeepingItsState()
    {
        var store = new InMemorySchedulingStore();
        await store.CreateScheduleAsync(new StoredSchedule
        {
            Id = "code-hourly",
            WorkflowName = "code-hourly",
            Definition = new ScheduleDocument { Spec = ScheduleSpec.FromCron("0 */5 * * * *") }.ToJson(), // what an older version of the code said
            CodeDefined = true,
            Paused = true,
            Note = "kept",
            CreatedAt = s_start.AddDays(-1),
            UpdatedAt = s_start.AddDays(-1),
            SpecSince = s_start.AddDays(-1),
        }, default);
        await store.AddScheduleCountsAsync([new ScheduleCountChange("code-hourly", new ScheduleCounters { Runs = 7, Succeeded = 7 }, 0)], default);
        await using var harness = new SchedulerHarness(s_start, [typeof(CodeDefinedSchedules)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromSeconds(1));
        var described = await harness.Scheduler.Schedules.DescribeAsync("code-hourly");
        described.Definition.Spec.Cron.Should().Equal("0 0 * * * *");
        described.Paused.Should().BeTrue();
        described.Note.Should().Be("kept");
        described.Counters.Succeeded.Should().Be(7);
    }

    [Test]
    public async Task ACodeDefinedSpecChangedBetweenTwoStarts_AppliesFromTheStart_WithoutTheOldSpecsOccurrencesCreatedAhead()
    {
        // The old spec's occurrences created ahead (the look-ahead) ran after the start that applied the new one, and
        // the new spec's fire times before the old watermark were never created: its 13:00 run was lost.
        var store = new InMemorySchedulingStore();
        var at = new DateTimeOffset(2026, 6, 1, 12, 59, 0, TimeSpan.Zero);
        await using (var before = new SchedulerHarness(at, [typeof(CodeDefinedSchedulesEarlier)], o => o.PollInterval = TimeSpan.FromSeconds(5), store))
        {
            await before.StartAsync();
            await before.RunUntilAsync(at.AddSeconds(40)); // occurrences every 7 s are created up to the look-ahead
            before.Log.Of("code-hourly").Should().NotBeEmpty();
            await before.StopAsync();
        }

        await using var after = new SchedulerHarness(at.AddSeconds(45), [typeof(CodeDefinedSchedules)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await after.StartAsync();
        await after.RunUntilAsync(at.AddMinutes(3));

        after.Log.Of("code-hourly").Where(r => r.Scheduled >= at.AddSeconds(45)).Select(r => r.Scheduled)
            .Should().Equal([new DateTimeOffset(2026, 6, 1, 13, 0, 0, TimeSpan.Zero)], "the spec in code now is hourly, from the start that applied it");
        (await after.Scheduler.ListAsync(new RunQuery { ScheduleId = "code-hourly", Statuses = [RunStatus.Pending], PageSize = 1000 })).Items
            .Where(r => r.ScheduledTime.Minute != 0 || r.ScheduledTime.Second != 0).Should().BeEmpty("nothing of the old spec is left pending");
        after.Log.Of("code-interval").Where(r => r.Scheduled >= at.AddSeconds(45)).Select(r => r.Scheduled)
            .Should().Equal([at.AddSeconds(45)], "a changed interval runs first at the start that applies it, then every five minutes (not at 13:00 and 13:01, as the old one would)");
    }

    [Test]
    public async Task AScheduleMadeAtRunTime_HoldingACodeDefinedName_IsLeftAlone_AndTheConflictIsLogged()
    {
        var store = new InMemorySchedulingStore();
        await store.CreateScheduleAsync(new StoredSchedule
        {
            Id = "code-hourly",
            WorkflowName = "tick",
            Definition = new ScheduleDocument { Spec = ScheduleSpec.FromInterval("10m") }.ToJson(),
            CreatedAt = s_start,
            UpdatedAt = s_start,
            SpecSince = s_start,
        }, default);
        var logs = new CapturedLogs();
        await using var harness = new SchedulerHarness(s_start, [typeof(CodeDefinedSchedules), typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store, s => s.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs));
        await harness.StartAsync();
        await harness.RunUntilAsync(s_start.AddMinutes(61));

        var described = await harness.Scheduler.Schedules.DescribeAsync("code-hourly");
        described.CodeDefined.Should().BeFalse();
        described.Definition.WorkflowName.Should().Be("tick");
        harness.Log.OfSchedule("code-hourly").Should().HaveCount(6, "the schedule made at run time runs as it was made (every ten minutes)");
        harness.Log.Of("code-hourly").Should().BeEmpty("the code's hourly schedule is not run under a name taken");
        logs.Entries.Select(e => e.Message).Should().Contain(m => m.Contains("not applied", StringComparison.Ordinal) && m.Contains("code-hourly", StringComparison.Ordinal));
    }

    [Test]
    public async Task TwoInstancesOnOneStore_SeeEachOthersChanges_WithinAPoll_AndRunEachFireTimeOnce()
    {
        var store = new InMemorySchedulingStore();
        var start = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        await using var a = Instance(store, start, 1);
        await using var b = Instance(store, start, 1);
        await a.StartAsync();
        await b.StartAsync();
        Task Until(int second) => SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(second), TimeSpan.FromMilliseconds(500), a, b);

        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("5s"), Overlap = OverlapPolicy.Skip });
        await Until(60);
        await a.Scheduler.Schedules.PauseAsync("s");
        await Until(62); // within a poll, the other instance knows too
        int before = a.Log.OfSchedule("s").Count + b.Log.OfSchedule("s").Count;
        await Until(90);
        (a.Log.OfSchedule("s").Count + b.Log.OfSchedule("s").Count).Should().Be(before, "no instance runs a paused schedule's occurrences");
        (await b.Scheduler.Schedules.DescribeAsync("s")).Paused.Should().BeTrue();

        await b.Scheduler.Schedules.ResumeAsync("s");
        await b.Scheduler.Schedules.DeleteAsync("s");
        await Until(120);
        var runs = a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).ToList();
        runs.Select(r => r.Key).Should().OnlyHaveUniqueItems("each fire time runs once across both");
        runs.Where(r => r.Scheduled <= start.AddSeconds(60)).Should().HaveCount(12);
        runs.Where(r => r.Scheduled > start.AddSeconds(90)).Should().BeEmpty("the delete stopped both");
    }

    [Test]
    public async Task AScheduleDeletedAndMadeAgain_OnAnInstanceThatHadNotReadTheDelete_IsANewSchedule_NotTheOldOnesCatchUp()
    {
        // The instance that made it again still knew the old one, paused: it took the new one for a resume of the old,
        // kept the old one's watermark, and caught up the fire times of the old one's pause under the new one.
        var store = new InMemorySchedulingStore();
        var start = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        await using var a = Instance(store, start, 20);
        await using var b = Instance(store, start, 20);
        await a.StartAsync();
        await b.StartAsync();
        Task Until(double second) => SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(second), TimeSpan.FromSeconds(1), a, b);
        ScheduleDefinition Minutely(CatchUpPolicy catchUp) =>
            new() { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromCron("0 * * * * *"), CatchUp = catchUp };

        await a.Scheduler.Schedules.CreateAsync(Minutely(CatchUpPolicy.ExactlyOncePerInterval));
        await Until(150.5);
        await a.Scheduler.Schedules.PauseAsync("s");
        await Until(600.5); // both know of the pause; seven fire times fall in it
        await a.Scheduler.Schedules.DeleteAsync("s");
        await b.Scheduler.Schedules.CreateAsync(Minutely(CatchUpPolicy.Latest)); // before the other reads the delete
        await Until(700);

        var runs = a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).Select(r => (r.Scheduled, r.Started)).Order().ToList();
        runs.Should().Equal(
            [(start.AddMinutes(1), start.AddMinutes(1)), (start.AddMinutes(2), start.AddMinutes(2)), (start.AddMinutes(11), start.AddMinutes(11))],
            "the old schedule ran until its pause; the new one from its first fire time after it was made");
        var described = await a.Scheduler.Schedules.DescribeAsync("s");
        described.Counters.Missed.Should().Be(0, "the new schedule missed nothing");
        described.Counters.Runs.Should().Be(1);
    }

    [Test]
    public async Task AnUpdate_OnAnInstanceThatHadNotReadTheResume_DoesNotCatchUpThePauseAgain_UnderTheNewSpec()
    {
        // The instance that updated it still knew it paused: the new spec started from where the old one stood before
        // the pause, so the pause's fire times were caught up (and counted missed) a second time, under the new spec.
        var store = new InMemorySchedulingStore();
        var start = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        await using var a = Instance(store, start, 20);
        await using var b = Instance(store, start, 20);
        await a.StartAsync();
        await b.StartAsync();
        Task Until(double second) => SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(second), TimeSpan.FromSeconds(1), a, b);

        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromCron("0 * * * * *"), CatchUp = CatchUpPolicy.Latest });
        await Until(150.5);
        await a.Scheduler.Schedules.PauseAsync("s");
        await Until(600.5); // both know of the pause; eight fire times (3 to 10 minutes) fall in it
        await b.Scheduler.Schedules.ResumeAsync("s"); // runs 10 minutes, the latest; seven missed
        await b.SettleAsync();
        await a.Scheduler.Schedules.UpdateAsync("s", d => d with { Spec = ScheduleSpec.FromCron("30 * * * * *") }); // before it reads the resume
        await Until(700);

        var runs = a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).Select(r => (r.Scheduled, r.Started)).Order().ToList();
        runs.Should().Equal(
            [(start.AddMinutes(1), start.AddMinutes(1)), (start.AddMinutes(2), start.AddMinutes(2)), (start.AddMinutes(10), start.AddSeconds(600.5)),
             (start.AddSeconds(630), start.AddSeconds(630)), (start.AddSeconds(690), start.AddSeconds(690))],
            "the resume ran the latest of the pause; the new spec fires from the update on");
        (await a.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(7, "the pause's other fire times, counted once, by the resume");
    }

    [Test]
    public async Task APause_HoldsOnAnotherInstance_ThatHasNotReadItYet()
    {
        // The other instance reads schedule changes at its feeds; until then it claimed a paused schedule's occurrence
        // that fell due, and ran it after the pause had returned.
        var store = new InMemorySchedulingStore();
        var start = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        await using var a = Instance(store, start, 5);
        await using var b = Instance(store, start, 5);
        await a.StartAsync();
        await b.StartAsync();
        Task Until(double second) => SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(second), TimeSpan.FromMilliseconds(100), a, b);

        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s") });
        await Until(19.9); // both hold the occurrence at 20 s; the other's next feed is at 20 s, after that run
        await a.Scheduler.Schedules.PauseAsync("s");
        await Until(25);

        a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).Select(r => r.Scheduled).Should().Equal([start.AddSeconds(10)], "after the pause returned, no instance starts its occurrences");
        (await store.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Pending] }, default)).Items
            .Should().Contain(r => r.ScheduledTime == start.AddSeconds(20), "held for the resume, which applies the catch-up policy to it");
    }

    [Test]
    public async Task AResumeThatDropsFireTimes_CountsThemMissedOnce_AcrossInstances()
    {
        // Both instances plan the schedule: the one that resumed caught it up at once; the other, still holding the
        // watermark it read before the pause, caught it up again at its next feed (its occurrences were refused as
        // duplicates, but what the catch-up dropped was counted missed a second time).
        var store = new InMemorySchedulingStore();
        var start = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        await using var a = Instance(store, start, 5);
        await using var b = Instance(store, start, 5);
        await a.StartAsync();
        await b.StartAsync();
        Task Until(double second) => SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(second), TimeSpan.FromMilliseconds(500), a, b);

        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s") });
        await Until(15.5);
        await a.Scheduler.Schedules.PauseAsync("s");
        await Until(1_815.5); // 180 fire times while paused: the catch-up runs the latest 100
        await a.Scheduler.Schedules.ResumeAsync("s");
        await Until(1_840.5);

        var runs = a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).ToList();
        runs.Select(r => r.Scheduled).Should().OnlyHaveUniqueItems();
        runs.Where(r => r.Scheduled > start.AddSeconds(15.5) && r.Scheduled < start.AddSeconds(1_815.5)).Should().HaveCount(100);
        (await a.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(80, "each dropped fire time is counted once, by the instance that caught it up");
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, 29)]
    [TestCase(CatchUpPolicy.Latest, 28)]
    public async Task AResumeSkippingOccurrencesMadeAhead_CountsThemMissedOnce_AcrossInstances(CatchUpPolicy policy, int missed)
    {
        // Occurrences made ahead that fell due while paused are held by both instances; the one that resumed skipped
        // them, and the other, learning of the resume at its next feed, decided about them again and counted them
        // missed a second time, though the store had skipped them already. It also logged them as not run (42 logged
        // for 29 counted), and the resume logged nothing.
        var store = new InMemorySchedulingStore();
        var start = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        var logsA = new CapturedLogs();
        var logsB = new CapturedLogs();
        await using var a = Instance(store, start, 5, s => s.AddSingleton<ILoggerProvider>(logsA));
        await using var b = Instance(store, start, 5, s => s.AddSingleton<ILoggerProvider>(logsB));
        await a.StartAsync();
        await b.StartAsync();
        Task Until(double second) => SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(second), TimeSpan.FromMilliseconds(500), a, b);

        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s"), CatchUp = policy });
        await Until(15.5); // the occurrences of the next two minutes are made
        await a.Scheduler.Schedules.PauseAsync("s");
        await Until(300.5); // 20 s to 300 s fall while paused: 29 fire times
        await a.Scheduler.Schedules.ResumeAsync("s");
        await Until(325.5);

        var runs = a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).Where(r => r.Scheduled > start.AddSeconds(15.5) && r.Scheduled < start.AddSeconds(300.5)).ToList();
        runs.Should().HaveCount(29 - missed);
        (await a.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(missed, "each fire time the policy dropped is counted once");

        static long NotRun(CapturedLogs logs) => logs.Entries
            .Where(e => e.Event.Id is 7 or 24 && e.Message.StartsWith("Schedule s: ", StringComparison.Ordinal))
            .Sum(e => long.Parse(e.Message.Split(' ')[2], CultureInfo.InvariantCulture));
        (NotRun(logsA) + NotRun(logsB)).Should().Be(missed, "each occurrence not run is logged once, by the instance that decided so");
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, new int[0])]
    [TestCase(CatchUpPolicy.Latest, new[] { 30 })]
    public async Task AResume_DecidesAboutHeldOccurrencesBeforeTheScheduleIsActive_SoNoOtherInstanceRunsOneThePolicyDrops(CatchUpPolicy policy, int[] ranInThePause)
    {
        // The resume made the schedule active at once; the catch-up pass that skips what the policy drops came after.
        // Another instance that had not seen the pause loaded the held occurrences in between (active, and due) and ran
        // them all.
        var shared = new InMemorySchedulingStore();
        var flaky = new FlakyStore(shared);
        var start = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        await using var a = new SchedulerHarness(start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), flaky);
        await using var b = new SchedulerHarness(start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), shared);
        await a.StartAsync();
        await b.StartAsync();

        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s"), CatchUp = policy });
        await SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(12.5), TimeSpan.FromMilliseconds(500), a, b); // made ahead for two minutes
        await a.Scheduler.Schedules.PauseAsync("s");
        await a.RunUntilAsync(start.AddSeconds(31)); // 20 and 30 fall in the pause, held; the other instance sees none of it

        // This instance's next pass (the resume wakes it) is held up until the other has had its turn.
        using var passMayGo = new ManualResetEventSlim();
        flaky.OnScheduleChangesRead = () =>
        {
            flaky.OnScheduleChangesRead = null;
            passMayGo.Wait(TimeSpan.FromSeconds(10)); // real time, bounded, never asserted on
        };
        await a.Scheduler.Schedules.ResumeAsync("s");
        await b.RunUntilAsync(start.AddSeconds(31)); // reads the schedule active, and the occurrences at 20 and 30 due
        passMayGo.Set();
        await SchedulerHarness.RunTogetherUntilAsync(start.AddSeconds(45), TimeSpan.FromMilliseconds(500), a, b);

        var runs = a.Log.OfSchedule("s").Concat(b.Log.OfSchedule("s")).Select(r => (int)(r.Scheduled - start).TotalSeconds).Order().ToList();
        runs.Should().Equal([10, .. ranInThePause, 40], "the policy decides about the fire times of the pause, on every instance");
        (await a.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(2 - ranInThePause.Length, "each fire time the policy dropped is counted once");
    }

    private static readonly DateTimeOffset s_claimAheadStart = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>A scheduler running schedule "s" every 10 s, 3 ms before its occurrence at 20 s: claimed ahead, not started.</summary>
    private static async Task<SchedulerHarness> WithTheOccurrenceAt20sClaimedAheadAsync(InMemorySchedulingStore store, CatchUpPolicy catchUp = CatchUpPolicy.ExactlyOncePerInterval)
    {
        var harness = new SchedulerHarness(s_claimAheadStart, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await harness.StartAsync();
        await harness.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s"), CatchUp = catchUp });
        await harness.RunUntilAsync(s_claimAheadStart.AddSeconds(19.997));
        (await store.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Running] }, default)).Items
            .Should().ContainSingle(r => r.ScheduledTime == s_claimAheadStart.AddSeconds(20), "the occurrence at 20 s is claimed ahead of its instant");
        harness.Log.OfSchedule("s").Should().ContainSingle("only the occurrence at 10 s has started");
        return harness;
    }

    [Test]
    public async Task APauseReturningAfterTheOccurrenceWasClaimedAhead_StillStopsItsStart()
    {
        // The scheduler claims a run a few milliseconds before its instant; a pause returning in that window let the
        // claimed occurrence start at its instant, after PauseAsync had returned.
        var store = new InMemorySchedulingStore();
        await using var harness = await WithTheOccurrenceAt20sClaimedAheadAsync(store);

        await harness.Scheduler.Schedules.PauseAsync("s");
        await harness.RunUntilAsync(s_claimAheadStart.AddSeconds(25));

        harness.Log.OfSchedule("s").Select(r => r.Scheduled).Should().Equal([s_claimAheadStart.AddSeconds(10)], "nothing starts after the pause returned");
        (await store.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Pending] }, default)).Items
            .Should().Contain(r => r.ScheduledTime == s_claimAheadStart.AddSeconds(20), "handed back, held for the resume as any occurrence that fell due while paused");

        await harness.Scheduler.Schedules.ResumeAsync("s");
        await harness.RunUntilAsync(s_claimAheadStart.AddSeconds(35));
        harness.Log.OfSchedule("s").Select(r => r.Scheduled).Should().Equal([s_claimAheadStart.AddSeconds(10), s_claimAheadStart.AddSeconds(20), s_claimAheadStart.AddSeconds(30)], "the default catch-up policy runs what fell due while paused, once");
        harness.Log.OfSchedule("s")[1].Started.Should().BeOnOrAfter(s_claimAheadStart.AddSeconds(25), "it started after the resume, not at its instant");
        harness.Log.OfSchedule("s").Select(r => r.Attempt).Should().Equal([1, 1, 1], "the claim handed back was undone: no attempt of it began");
        (await harness.Scheduler.Schedules.DescribeAsync("s")).Counters.Runs.Should().Be(3, "each run counted once, when it started");
    }

    [Test]
    public async Task AnOccurrenceHandedBackByAPause_IsMissedOnResume_UnderWhenActive_AsAnyThatFellDueWhilePaused()
    {
        var store = new InMemorySchedulingStore();
        await using var harness = await WithTheOccurrenceAt20sClaimedAheadAsync(store, CatchUpPolicy.ExactlyOncePerIntervalWhenActive);

        await harness.Scheduler.Schedules.PauseAsync("s");
        await harness.RunUntilAsync(s_claimAheadStart.AddSeconds(25));
        await harness.Scheduler.Schedules.ResumeAsync("s");
        await harness.RunUntilAsync(s_claimAheadStart.AddSeconds(35));

        harness.Log.OfSchedule("s").Select(r => r.Scheduled).Should().Equal([s_claimAheadStart.AddSeconds(10), s_claimAheadStart.AddSeconds(30)], "it fell due while paused: not run under WhenActive");
        var description = await harness.Scheduler.Schedules.DescribeAsync("s");
        description.Counters.Missed.Should().Be(1);
        description.Counters.Runs.Should().Be(2, "the occurrence handed back never started: it is missed, not run");
        (await store.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Pending, RunStatus.Running] }, default)).Items
            .Should().NotContain(r => r.ScheduledTime == s_claimAheadStart.AddSeconds(20), "decided, not left pending");
    }

    [Test]
    public async Task ADeleteReturningAfterTheOccurrenceWasClaimedAhead_StillStopsItsStart()
    {
        var store = new InMemorySchedulingStore();
        await using var harness = await WithTheOccurrenceAt20sClaimedAheadAsync(store);

        await harness.Scheduler.Schedules.DeleteAsync("s");
        await harness.RunUntilAsync(s_claimAheadStart.AddSeconds(45));

        harness.Log.OfSchedule("s").Select(r => r.Scheduled).Should().Equal([s_claimAheadStart.AddSeconds(10)], "nothing starts after the delete returned");
        (await store.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Pending, RunStatus.Running] }, default)).Items
            .Should().BeEmpty("the occurrence claimed ahead was handed back and withdrawn");
    }
}
