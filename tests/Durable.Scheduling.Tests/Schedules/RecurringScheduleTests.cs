using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>Recurring schedules managed at run time, under fake time, on the in-memory store unless said otherwise.</summary>
[TestFixture]
public sealed class RecurringScheduleTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static ScheduleDefinition Every(string id, string interval, string workflow = "tick") =>
        new() { Id = id, WorkflowName = workflow, Spec = ScheduleSpec.FromInterval(interval) };

    private static int Second(DateTimeOffset t) => (int)(t - s_start).TotalSeconds;

    private static SchedulerHarness Harness(ISchedulingStore? store = null) =>
        new(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);

    /// <summary>A scheduler on <paramref name="store"/> makes <paramref name="definition"/>, runs until <paramref name="until"/>, and goes down.</summary>
    private static async Task<RunLog> RunThenGoDownAsync(ISchedulingStore store, ScheduleDefinition definition, DateTimeOffset until)
    {
        await using var before = Harness(store);
        await before.StartAsync();
        await before.Scheduler.Schedules.CreateAsync(definition);
        await before.RunUntilAsync(until);
        return before.Log;
    }

    [Test]
    public async Task ASchedule_RunsEachFireTimeOnce_WithItsInputAndMetadata_AndTheContextNamesIt()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        var created = await schedules.CreateAsync(new ScheduleDefinition
        {
            Id = "eu-report",
            WorkflowName = "report",
            Spec = ScheduleSpec.FromInterval("10s"),
            Input = new ReportInput("eu", 3),
            Metadata = new Dictionary<string, string> { ["tenant"] = "acme" },
        });
        created.NextFireTimes.Select(f => Second(f.Instant)).Take(3).Should().Equal(10, 20, 30);

        await harness.RunUntilAsync(s_start.AddSeconds(65));

        var runs = harness.Log.OfSchedule("eu-report");
        runs.Select(r => Second(r.Scheduled)).Should().Equal([10, 20, 30, 40, 50, 60], "the first fire time is the first after the schedule was made");
        runs.Select(r => r.Started).Should().Equal(runs.Select(r => r.Scheduled), "each starts at its instant");
        runs.Should().AllSatisfy(r =>
        {
            r.Input.Should().Be(new ReportInput("eu", 3));
            r.Kind.Should().Be(RunKind.Occurrence);
            r.Key.Should().StartWith("eu-report@");
        });
        var stored = await harness.Scheduler.GetAsync(runs[0].RunId);
        stored!.Metadata.Should().BeEquivalentTo(new Dictionary<string, string> { ["tenant"] = "acme" });
        stored.ScheduleId.Should().Be("eu-report");

        var described = await schedules.DescribeAsync("eu-report", nextFireTimes: 2, recentRuns: 3);
        described.Counters.Runs.Should().Be(6, "runs started, not occurrences created ahead");
        described.Counters.Succeeded.Should().Be(6);
        described.Counters.Failed.Should().Be(0);
        described.RecentRuns.Select(r => Second(r.ScheduledTime)).Should().Equal(60, 50, 40);
        described.RecentRuns.Should().AllSatisfy(r => r.Status.Should().Be(RunStatus.Succeeded));
        described.NextFireTimes.Select(f => Second(f.Instant)).Should().Equal(70, 80);
        described.Definition.Input.Should().BeOfType<System.Text.Json.JsonElement>();
        described.Orphaned.Should().BeFalse();
        described.CodeDefined.Should().BeFalse();
    }

    [Test]
    public async Task ADescription_ReadAfterTheClockMoved_StillShowsTheFireTimesAsOfItsCall()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var created = await harness.Scheduler.Schedules.CreateAsync(Every("later-read", "10s"));
        var described = await harness.Scheduler.Schedules.DescribeAsync("later-read", nextFireTimes: 3);

        await harness.RunUntilAsync(s_start.AddSeconds(95)); // nine of them have run meanwhile

        var reads = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => created.NextFireTimes.Select(f => Second(f.Instant)).ToList())));
        reads.Should().AllSatisfy(r => r.Should().Equal([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], "a description is of the instant it was made, whenever it is read"));
        created.NextFireTimes.Should().HaveCount(10);
        created.NextFireTimes[9].Instant.Should().Be(s_start.AddSeconds(100));
        described.NextFireTimes.Select(f => Second(f.Instant)).Should().Equal(10, 20, 30);
    }

    [Test]
    public async Task SchedulesCreatedInBulk_FiringAfterTheLoopsNextPass_AreTakenInByIt_AndRunAtTheirInstants()
    {
        // A creation firing beyond the wheel's horizon (two polls: 10 s here) does not wake the loop; its next pass
        // (a poll at most) takes it in, and every 128 creations wake it all the same.
        await using var harness = Harness();
        await harness.StartAsync();
        await harness.RunUntilAsync(s_start.AddSeconds(2));
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "just-beyond", WorkflowName = "tick", Spec = ScheduleSpec.FromCron("13 * * * * *") });
        for (int i = 0; i < 300; i++)
        {
            await schedules.CreateAsync(Every("bulk-" + i, "30s"));
        }

        await schedules.CreateAsync(new ScheduleDefinition { Id = "soon", WorkflowName = "tick", Spec = ScheduleSpec.FromCron("5 * * * * *") });
        await harness.RunUntilAsync(s_start.AddSeconds(31));

        var log = harness.Log;
        log.OfSchedule("soon").Select(r => (Second(r.Scheduled), Second(r.Started))).Should().Equal([(5, 5)]);
        log.OfSchedule("just-beyond").Select(r => (Second(r.Scheduled), Second(r.Started))).Should().Equal([(13, 13)]);
        for (int i = 0; i < 300; i++)
        {
            log.OfSchedule("bulk-" + i).Select(r => (Second(r.Scheduled), r.Started == r.Scheduled)).Should().Equal([(30, true)], "bulk-{0} fires once, at its instant", i);
        }
    }

    [Test]
    public async Task ASchedule_CreatedThenTheClockJumpsPastItsFirstFireTime_InOneStep_RunsItOnce()
    {
        // What a user's test on a fake clock does: create, wait until idle, advance past the fire time in one step. The
        // create left the loop asleep (an hour off): the jump's pass takes it in and runs the fire time that passed.
        await using var harness = Harness();
        await harness.StartAsync();
        await harness.Scheduler.Schedules.CreateAsync(Every("hourly", "1h"));
        await harness.SettleAsync();

        harness.Time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        await harness.SettleAsync();

        harness.Log.OfSchedule("hourly").Select(r => (Second(r.Scheduled), Second(r.Started))).Should().Equal([(3600, 3601)]);
        await harness.RunUntilAsync(s_start.AddHours(2).AddSeconds(1));
        harness.Log.OfSchedule("hourly").Select(r => Second(r.Scheduled)).Should().Equal(3600, 7200);
    }

    [Test]
    public async Task Create_AnExistingId_IsRefused_AndCreateOrUpdate_IsIdempotent_KeepingState()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s"));
        var refused = await FluentActions.Awaiting(() => schedules.CreateAsync(Every("s", "1m")).AsTask()).Should().ThrowAsync<ScheduleStateException>();
        refused.Which.Reason.Should().Be(ScheduleRefusal.AlreadyExists);

        await schedules.PauseAsync("s", "maintenance");
        var before = await schedules.DescribeAsync("s");
        var same = await schedules.CreateOrUpdateAsync(Every("s", "10s"));
        same.Version.Should().Be(before.Version, "an unchanged definition changes nothing");
        same.Paused.Should().BeTrue();

        var changed = await schedules.CreateOrUpdateAsync(Every("s", "1m"));
        changed.Version.Should().BeGreaterThan(before.Version, "a change of spec is written (and its start moved on a tick, a second write)");
        changed.Paused.Should().BeTrue("create-or-update keeps the state");
        changed.Note.Should().Be("maintenance");
        changed.Definition.Spec.Intervals.Single().Every.Should().Be(TimeSpan.FromMinutes(1));

        (await schedules.CreateOrUpdateAsync(Every("fresh", "1m"))).Version.Should().Be(1, "an absent schedule is created");
    }

    private static readonly object[] s_invalid =
    [
        new object[] { "Spec.Cron[0]", Every("x", "1m") with { Spec = ScheduleSpec.FromCron("61 * * * *") } },
        new object[] { "Spec.TimeZone", Every("x", "1m") with { Spec = new ScheduleSpec { Cron = ["* * * * *"], TimeZone = "Mars/Olympus_Mons" } } },
        new object[] { "Spec.EndAt", Every("x", "1m") with { Spec = ScheduleSpec.FromInterval("1m") with { StartAt = s_start, EndAt = s_start.AddDays(-1) } } },
        new object[] { "Spec.Intervals[0].Every", Every("x", "1m") with { Spec = new ScheduleSpec { Intervals = [new ScheduleInterval(TimeSpan.Zero)] } } },
        new object[] { "Spec.Jitter", Every("x", "1m") with { Spec = ScheduleSpec.FromInterval("1m") with { Jitter = TimeSpan.FromMinutes(2) } } },
        new object[] { "Spec.Calendars[0].Hour", Every("x", "1m") with { Spec = new ScheduleSpec { Calendars = [new ScheduleCalendar { Hour = "25" }] } } },
        new object[] { "Spec.Calendars[0].Year", Every("x", "1m") with { Spec = new ScheduleSpec { Calendars = [new ScheduleCalendar { Year = "1999" }] } } },
        new object[] { "Spec", Every("x", "1m") with { Spec = new ScheduleSpec() } },
        new object[] { "Spec.Cron[0]", Every("x", "1m") with { Spec = ScheduleSpec.FromCron("0 0 30 2 *") } }, // never fires
        new object[] { "Spec.Cron[1]", Every("x", "1m") with { Spec = new ScheduleSpec { Cron = ["0 9 * * *", "0 0 31 4,6,9,11 *"] } } },
        new object[] { "Spec.Calendars[0]", Every("x", "1m") with { Spec = new ScheduleSpec { Calendars = [new ScheduleCalendar { DayOfMonth = "30-31", Month = "2" }] } } },
        new object[] { "Spec.StartAt", Every("x", "1m") with { Spec = ScheduleSpec.FromInterval("1m") with { StartAt = DateTimeOffset.MaxValue } } },
        new object[] { "Spec.Skip[1]", Every("x", "1m") with { Spec = new ScheduleSpec { Cron = ["0 9 * * *"], Skip = [new ScheduleCalendar { DayOfWeek = "SAT,SUN" }, new ScheduleCalendar()] } } },
        new object[] { "Spec.Skip[0]", Every("x", "1m") with { Spec = new ScheduleSpec { Cron = ["0 9 * * *"], Skip = [new ScheduleCalendar { Hour = "*", DayOfWeek = "*" }] } } },
        new object[] { "WorkflowName", Every("x", "1m", workflow: "no-such-workflow") },
        new object[] { "Input", Every("x", "1m", workflow: "report") with { Input = "not a report" } },
        new object[] { "Input", Every("x", "1m", workflow: "report") },
        new object[] { "MaxRuns", Every("x", "1m") with { MaxRuns = 0 } },
        new object[] { "Id", Every("", "1m") },
        new object[] { "Id", Every("a@b", "1m") },
        new object[] { "Id", Every("a!b", "1m") },
    ];

    [TestCaseSource(nameof(s_invalid))]
    public async Task AnInvalidDefinition_IsRefusedAtTheCall_NamingTheField_AndNothingIsStored(string field, ScheduleDefinition definition)
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var error = await FluentActions.Awaiting(() => harness.Scheduler.Schedules.CreateAsync(definition).AsTask()).Should().ThrowAsync<ScheduleSpecException>();
        error.Which.Field.Should().Be(field);
        error.Which.Message.Should().StartWith(field + ":");
        (await harness.Scheduler.Schedules.ListAsync(new ScheduleQuery())).Items.Should().BeEmpty();
        if (field.StartsWith("Spec", StringComparison.Ordinal))
        {
            FluentActions.Invoking(() => harness.Scheduler.Schedules.Preview(definition.Spec, 1)).Should().Throw<ScheduleSpecException>().Which.Field.Should().Be(field, "a preview validates the spec alike");
        }
    }

    [Test]
    public async Task SpecsThatFireRarely_OrOnlyInTheFuture_AreAccepted_NotTakenForNeverFiring()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        var leapMonday = await schedules.CreateAsync(Every("leap", "1m") with { Spec = ScheduleSpec.FromCron("0 0 29 2 1") });
        leapMonday.NextFireTimes.Select(f => f.Instant.Year).Should().StartWith(new[] { 2044, 2072 }, "29 February falls on a Monday in 2044, then 2072");
        var later = await schedules.CreateAsync(Every("later", "1m") with { Spec = new ScheduleSpec { Calendars = [new ScheduleCalendar { Month = "2", DayOfMonth = "29", Year = "2096" }] } });
        later.NextFireTimes.Should().ContainSingle().Which.Instant.Should().Be(new DateTimeOffset(2096, 2, 29, 0, 0, 0, TimeSpan.Zero));
        var notIn2027 = await schedules.CreateAsync(Every("not-2027", "1m") with { Spec = new ScheduleSpec { Cron = ["0 0 1 1 *"], Skip = [new ScheduleCalendar { Year = "2027" }] } });
        notIn2027.NextFireTimes.Select(f => f.Instant.Year).Should().StartWith(new[] { 2028, 2029 }, "a skip of every time in one year leaves the others");
        var ended = await schedules.CreateAsync(Every("ended", "1m") with { Spec = ScheduleSpec.FromInterval("1m") with { EndAt = s_start.AddDays(-1) } });
        ended.NextFireTimes.Should().BeEmpty("a schedule whose end has passed is a finished one, not a mistake in its spec");
    }

    [Test]
    public async Task AnInputGivenAsJson_CountsAgainstTheInputLimit_AsATypedOneDoes()
    {
        // JSON given as it is skipped the size check that a typed input passes through: every occurrence carries it.
        await using var harness = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.MaxInputBytes = 1000);
        await harness.StartAsync();
        var big = System.Text.Json.JsonDocument.Parse($$"""{ "Region": "{{new string('x', 2000)}}", "Day": 1 }""").RootElement;
        var error = await FluentActions.Awaiting(() => harness.Scheduler.Schedules.CreateAsync(Every("s", "1m", workflow: "report") with { Input = big }).AsTask()).Should().ThrowAsync<ScheduleSpecException>();
        error.Which.Field.Should().Be("Input");
        error.Which.Message.Should().Contain("limit of 1,000 bytes");
        (await harness.Scheduler.Schedules.ListAsync(new ScheduleQuery())).Items.Should().BeEmpty();
    }

    [Test]
    public async Task PreviewAndBackfill_AtTheEdgesOfTime_AreRefusedNamingTheArgument_NotFailingInsideTheCalendar()
    {
        // From DateTimeOffset.MaxValue a preview failed with the calendar's own "Ticks must be between..." (parameter
        // 'ticks'), and a backfill from MinValue alike.
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        foreach (var from in new[] { DateTimeOffset.MaxValue, DateTimeOffset.MaxValue.AddHours(-1), DateTimeOffset.MinValue, SchedulingLimits.EarliestRunTime.AddTicks(-1) })
        {
            FluentActions.Invoking(() => schedules.Preview(ScheduleSpec.FromCron("* * * * *") with { TimeZone = "Pacific/Kiritimati" }, 3, from))
                .Should().Throw<ArgumentOutOfRangeException>().WithParameterName("from");
        }

        schedules.Preview(ScheduleSpec.FromInterval("1d"), 1, SchedulingLimits.EarliestRunTime).Should().ContainSingle();
        await schedules.CreateAsync(Every("s", "1h"));
        await FluentActions.Awaiting(() => schedules.BackfillAsync("s", DateTimeOffset.MinValue, s_start).AsTask())
            .Should().ThrowAsync<ArgumentOutOfRangeException>().WithParameterName("rangeStart");
        (await harness.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", ScheduledTo = s_start })).Items.Should().BeEmpty("nothing refused was stored");
    }

    [Test]
    public async Task AnIdTooLong_IsRefused_WithAMessageThatShowsOnlyItsStart()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var error = await FluentActions.Awaiting(() => harness.Scheduler.Schedules.CreateAsync(Every(new string('x', 10_000), "1m")).AsTask()).Should().ThrowAsync<ScheduleSpecException>();
        error.Which.Field.Should().Be("Id");
        error.Which.Message.Should().Contain("(10,000 characters)").And.Contain("must be 1 to 200 characters");
        error.Which.Message.Length.Should().BeLessThan(400);
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerInterval, new[] { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120 })]
    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, new[] { 10, 120 })]
    [TestCase(CatchUpPolicy.Latest, new[] { 10, 110, 120 })]
    public async Task Pause_RacingADueOccurrence_StopsIt_AndResumeCatchesUpPerPolicy(CatchUpPolicy policy, int[] expected)
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s") with { CatchUp = policy });
        await harness.RunUntilAsync(s_start.AddSeconds(19.9)); // the 20 s occurrence exists, in the wheel, due in 100 ms
        await schedules.PauseAsync("s", "deploying");
        await harness.RunUntilAsync(s_start.AddSeconds(112.5)); // between two polls
        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10);
        var paused = await schedules.DescribeAsync("s");
        paused.Paused.Should().BeTrue();
        paused.Note.Should().Be("deploying");
        (await schedules.ListAsync(new ScheduleQuery { Paused = true })).Items.Single().Id.Should().Be("s");

        await schedules.ResumeAsync("s", "done");
        await harness.RunUntilAsync(s_start.AddSeconds(125));
        var runs = harness.Log.OfSchedule("s");
        runs.Select(r => Second(r.Scheduled)).Order().Should().Equal(expected);
        runs.Should().OnlyHaveUniqueItems(r => r.Scheduled);
        runs.Where(r => r.Scheduled > s_start.AddSeconds(10) && r.Scheduled < s_start.AddSeconds(112.5)).Select(r => r.Started).Should().BeSubsetOf(
            [s_start.AddSeconds(112.5)], "what the catch-up policy runs starts at the resume, not at the next poll");
        var resumed = await schedules.DescribeAsync("s");
        resumed.Paused.Should().BeFalse();
        resumed.Note.Should().Be("done");
        resumed.Counters.Missed.Should().Be(10 - (expected.Length - 2), "every fire time while paused that did not run is counted as missed");
    }

    [Test]
    public async Task ACatchUpRunStillPending_AfterItsPassFailedToStoreTheWatermark_IsKept_NotSkippedForADuplicate()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "30s", workflow: "slow-tick") with { CatchUp = CatchUpPolicy.Latest, Overlap = OverlapPolicy.BufferAll });
        await schedules.PauseAsync("s");
        await harness.RunUntilAsync(s_start.AddMinutes(5).AddMilliseconds(500));
        var blocker = await schedules.TriggerAsync("s"); // runs 25 s; the schedule's occurrences wait behind it

        // The resume's pass keeps the latest fire time (5:00) and makes its run, which waits behind the trigger, then
        // fails to store the watermark. The next pass finds that run pending after the watermark it reads again.
        store.FailWatermarks = 1;
        await schedules.ResumeAsync("s");
        await harness.RunUntilAsync(s_start.AddMinutes(6).AddMilliseconds(500));

        store.FailWatermarks.Should().Be(0, "the resume's pass failed after its insert");
        var occurrences = harness.Log.OfSchedule("s").Where(r => r.Kind == RunKind.Occurrence).ToList();
        occurrences.Select(r => Second(r.Scheduled)).Should().Equal([300, 330], "5:00 is the latest fire time of the pause, kept once; then 5:30 after it");
        Second(occurrences[0].Started).Should().Be(325, "it waited for the trigger (BufferAll)");
        harness.Log.OfSchedule("s").Select(r => r.RunId).Should().Contain(blocker.Id);
        (await schedules.DescribeAsync("s")).Counters.Skipped.Should().Be(0, "nothing was skipped in place of the kept run");
    }

    [Test]
    public async Task Resume_WithNoOccurrenceMadeBeforeThePause_CatchesUpAtTheResume_NotAtTheNextPoll()
    {
        // Paused before its next fire time was made (it is made a look-ahead before its instant): the resume has no
        // held occurrence to release, so the fire times that fell meanwhile wait for a feed, which it must start
        // rather than leave to the next poll (half a minute here).
        await using var harness = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(30));
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "3m"));
        await harness.RunUntilAsync(s_start.AddMinutes(3).AddSeconds(5.5));
        await schedules.PauseAsync("s");
        var resumeAt = s_start.AddMinutes(20).AddSeconds(5.5);
        await harness.RunUntilAsync(resumeAt);
        harness.Log.OfSchedule("s").Select(r => r.Scheduled).Should().Equal(s_start.AddMinutes(3));

        await schedules.ResumeAsync("s");
        await harness.SettleAsync(); // the clock stays at the resume
        harness.Log.OfSchedule("s").Skip(1).Select(r => (r.Scheduled, r.Started)).Should().BeEquivalentTo(
            new[] { 6, 9, 12, 15, 18 }.Select(m => (s_start.AddMinutes(m), resumeAt)),
            "each fire time that fell while paused runs once, at the resume (the default catch-up policy)");
    }

    [Test]
    public async Task APause_SurvivesARestart_OnSqlite_AndResumeRunsAgain()
    {
        string file = Path.Combine(Path.GetTempPath(), $"durable-schedules-{Guid.NewGuid():N}.db");
        try
        {
            Durable.Scheduling.Sqlite.SqliteSchedulingStore Open() => new(new Durable.Scheduling.Sqlite.SqliteSchedulingOptions { ConnectionString = $"Data Source={file}" });
            await using var firstStore = Open();
            await using (var harness = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), firstStore))
            {
                await harness.StartAsync();
                await harness.Scheduler.Schedules.CreateAsync(Every("s", "10s"));
                await harness.RunUntilAsync(s_start.AddSeconds(15));
                await harness.Scheduler.Schedules.PauseAsync("s", "paused before restart");
                await harness.RunUntilAsync(s_start.AddSeconds(25));
                harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10);
            }

            await firstStore.DisposeAsync();
            await using var secondStore = Open();
            await using (var harness = new SchedulerHarness(s_start.AddSeconds(30), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), secondStore))
            {
                await harness.StartAsync();
                await harness.RunUntilAsync(s_start.AddSeconds(60));
                harness.Log.OfSchedule("s").Should().BeEmpty("the pause survived the restart");
                var described = await harness.Scheduler.Schedules.DescribeAsync("s");
                described.Paused.Should().BeTrue();
                described.Note.Should().Be("paused before restart");
                described.Counters.Succeeded.Should().Be(1);

                await harness.Scheduler.Schedules.ResumeAsync("s");
                await harness.RunUntilAsync(s_start.AddSeconds(75));
                harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Order().Should().Equal(20, 30, 40, 50, 60, 70);
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(file)!, Path.GetFileName(file) + "*"))
            {
                File.Delete(f);
            }
        }
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerInterval, new[] { 30, 40, 50, 60 })]
    [TestCase(CatchUpPolicy.Latest, new[] { 60 })]
    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, new int[0])]
    public async Task AfterDowntime_MissedFireTimes_FollowTheSchedulesOwnCatchUpPolicyAndWindow(CatchUpPolicy policy, int[] caughtUp)
    {
        var store = new Durable.Scheduling.Storage.InMemory.InMemorySchedulingStore();
        var before = await RunThenGoDownAsync(store, Every("s", "10m") with { CatchUp = policy, CatchUpWindow = TimeSpan.FromMinutes(35) }, s_start.AddMinutes(15));
        before.OfSchedule("s").Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Should().Equal(10);

        // Down from 12:15 to 13:05: 12:20 to 13:00 missed; the schedule's window reaches back 35 minutes, to 12:30.
        await using var after = new SchedulerHarness(s_start.AddMinutes(65), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await after.StartAsync();
        await after.RunUntilAsync(s_start.AddMinutes(75));
        var runs = after.Log.OfSchedule("s").Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Order().ToList();
        runs.Should().Equal([.. caughtUp, 70], "fire times within the window follow the policy; the next runs on time");
        (await after.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(5 - caughtUp.Length, "the five missed fire times not run are counted");
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerInterval, new[] { 20, 30, 40 })]
    [TestCase(CatchUpPolicy.Latest, new[] { 40 })]
    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, new int[0])]
    public async Task ARestartAMomentAfterAFireTime_AppliesThePolicyToThatOneToo_WhenItsOccurrencesWereCreatedAhead(CatchUpPolicy policy, int[] caughtUp)
    {
        // Occurrences are created ahead (the look-ahead), so those that fell due while down are stored pending. The last
        // fell due two seconds before the restart, within a poll: it was missed all the same (no instance ran).
        var store = new Durable.Scheduling.Storage.InMemory.InMemorySchedulingStore();
        var before = await RunThenGoDownAsync(store, Every("s", "10s") with { CatchUp = policy, CatchUpWindow = TimeSpan.FromMinutes(5) }, s_start.AddSeconds(15));
        before.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10);

        await using var after = new SchedulerHarness(s_start.AddSeconds(42), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await after.StartAsync();
        await after.RunUntilAsync(s_start.AddSeconds(55));
        after.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Order().Should().Equal([.. caughtUp, 50], "the missed fire times follow the policy; the next runs on time");
        (await after.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(3 - caughtUp.Length);
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerInterval, new[] { 10, 20, 30, 40 })]
    [TestCase(CatchUpPolicy.Latest, new[] { 40 })]
    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, new int[0])]
    public async Task AScheduleNeverPlanned_ResumedAfterARestart_AppliesThePolicyToItsWholePause(CatchUpPolicy policy, int[] caughtUp)
    {
        // Created paused, so no pass planned it and it has no watermark. A scheduler that started after it was made took
        // its own start for the watermark: the fire times between the creation and that start were neither run nor
        // counted missed, unlike those after it (and unlike a resume without a restart).
        var store = new Durable.Scheduling.Storage.InMemory.InMemorySchedulingStore();
        await using (var before = Harness(store))
        {
            await before.StartAsync();
            await before.Scheduler.Schedules.CreateAsync(Every("s", "10s") with { CatchUp = policy }, paused: true);
            await before.RunUntilAsync(s_start.AddSeconds(25));
        }

        await using var after = new SchedulerHarness(s_start.AddSeconds(25), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await after.StartAsync();
        await after.RunUntilAsync(s_start.AddSeconds(42));
        await after.Scheduler.Schedules.ResumeAsync("s");
        await after.RunUntilAsync(s_start.AddSeconds(55));

        after.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Order().Should().Equal([.. caughtUp, 50], "every fire time of the pause is for the policy, before the restart as after it");
        (await after.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(4 - caughtUp.Length);
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerInterval, new[] { 20, 30, 40 })]
    [TestCase(CatchUpPolicy.Latest, new[] { 40 })]
    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, new int[0])]
    public async Task ARestart_AppliesThePolicy_ToOccurrencesMadeAheadOfALimitedScheduleThatMadeAllItsRuns(CatchUpPolicy policy, int[] caughtUp)
    {
        // Its four runs are made at once (the look-ahead); the process goes down after the first: the others fell due
        // while nothing ran them, and its limit, used up, does not exempt them from its policy.
        var store = new Durable.Scheduling.Storage.InMemory.InMemorySchedulingStore();
        var before = await RunThenGoDownAsync(store, Every("s", "10s") with { CatchUp = policy, MaxRuns = 4 }, s_start.AddSeconds(15));
        before.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10);

        await using var after = new SchedulerHarness(s_start.AddSeconds(42), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
        await after.StartAsync();
        await after.RunUntilAsync(s_start.AddSeconds(90));
        after.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Order().Should().Equal(caughtUp, "the missed occurrences follow the policy (started together); the limit allows no more");
        var described = await after.Scheduler.Schedules.DescribeAsync("s");
        described.Counters.Missed.Should().Be(3 - caughtUp.Length, "only occurrences count as missed: fire times past the limit are none");
        described.RemainingRuns.Should().Be(0);
    }

    [Test]
    public async Task ARestartWhoseFirstPassFailsToStore_StillAppliesThePolicyToWhatFellDueJustBeforeTheStart()
    {
        // The first pass counts everything due before the start as missed; it stopped being the first pass before its
        // writes, so when one failed, the retry left alone what fell due within a poll of the start, and it ran.
        var store = new Durable.Scheduling.Storage.InMemory.InMemorySchedulingStore();
        await RunThenGoDownAsync(store, Every("s", "10s") with { CatchUp = CatchUpPolicy.ExactlyOncePerIntervalWhenActive }, s_start.AddSeconds(15));

        var flaky = new FlakyStore(store) { FailSkips = 1 };
        await using var after = new SchedulerHarness(s_start.AddSeconds(42), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), flaky);
        await after.StartAsync();
        await after.RunUntilAsync(s_start.AddSeconds(55));
        flaky.Failures.Should().Be(1);
        after.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal([50], "20, 30 and 40 fell due while nothing ran: not run under this policy");
        (await after.Scheduler.Schedules.DescribeAsync("s")).Counters.Missed.Should().Be(3);
    }

    [TestCase(OverlapPolicy.Skip, null, "skipped")]
    [TestCase(OverlapPolicy.Skip, OverlapPolicy.AllowAll, "at once")]
    [TestCase(OverlapPolicy.BufferAll, null, "after")]
    [TestCase(OverlapPolicy.AllowAll, null, "at once")]
    [TestCase(OverlapPolicy.AllowAll, OverlapPolicy.Skip, "skipped")]
    public async Task Trigger_WhileARunIsActive_FollowsTheOverlapPolicy_UnlessOverridden(OverlapPolicy policy, OverlapPolicy? overlap, string expected)
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "1m", workflow: "slow-tick") with { Overlap = policy });
        await harness.RunUntilAsync(s_start.AddSeconds(65)); // the 60 s run is active until 85 s
        var triggered = await schedules.TriggerAsync("s", overlap);
        triggered.Kind.Should().Be(RunKind.Triggered);
        triggered.IdempotencyKey.Should().StartWith("s!");
        await harness.RunUntilAsync(s_start.AddSeconds(115));

        var run = (await harness.Scheduler.GetAsync(triggered.Id))!;
        var invocation = harness.Log.Invocations.SingleOrDefault(i => i.RunId == triggered.Id);
        switch (expected)
        {
            case "skipped":
                invocation.Should().BeNull();
                run.Status.Should().Be(RunStatus.Skipped);
                (await schedules.DescribeAsync("s")).Counters.Skipped.Should().Be(1);
                (await schedules.DescribeAsync("s")).Counters.Runs.Should().Be(1, "a skipped run never started: only the occurrence at 60 s counts");
                break;
            case "at once":
                Second(invocation!.Started).Should().Be(65);
                break;
            case "after":
                Second(invocation!.Started).Should().Be(85, "it waits for the active run");
                break;
        }
    }

    [Test]
    public async Task Trigger_TwiceRightAfterTheCreate_OfASkipScheduleFiringMuchLater_RunsTheFirst_AndSkipsTheSecond()
    {
        // The create does not wake the loop (its first fire time is an hour off): the triggers do, and find its policy.
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("later", "1h", workflow: "slow-tick") with { Overlap = OverlapPolicy.Skip });
        var first = await schedules.TriggerAsync("later");
        var second = await schedules.TriggerAsync("later");
        await harness.RunUntilAsync(s_start.AddSeconds(40));

        harness.Log.Invocations.Select(i => i.RunId).Should().Equal([first.Id], "the second came while the first ran");
        (await harness.Scheduler.GetAsync(second.Id))!.Status.Should().Be(RunStatus.Skipped);
        (await schedules.DescribeAsync("later")).Counters.Skipped.Should().Be(1);
    }

    [Test]
    public async Task Trigger_WithAKey_IsIdempotent_AndRunsWhilePaused()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "1h"), paused: true);
        var first = await schedules.TriggerAsync("s", idempotencyKey: "deploy-42");
        var second = await schedules.TriggerAsync("s", idempotencyKey: "deploy-42");
        second.Id.Should().Be(first.Id);
        first.IdempotencyKey.Should().Be("s!deploy-42");
        await harness.RunForAsync(TimeSpan.FromSeconds(1));
        harness.Log.OfSchedule("s").Select(r => r.RunId).Should().Equal(first.Id);
        (await schedules.DescribeAsync("s")).Counters.Runs.Should().Be(1);
        await FluentActions.Awaiting(() => schedules.TriggerAsync("absent").AsTask()).Should().ThrowAsync<ScheduleNotFoundException>();
    }

    [Test]
    public async Task Backfill_RunsEachFireTimeOnce_InOrder_AndASecondBackfillCreatesNothing()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        await harness.RunUntilAsync(s_start.AddHours(1));
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10m"));
        await harness.RunUntilAsync(s_start.AddHours(1).AddMinutes(25)); // occurrences at 13:10, 13:20

        var ids = await schedules.BackfillAsync("s", s_start, s_start.AddHours(1).AddMinutes(15), OverlapPolicy.BufferAll);
        ids.Should().HaveCount(8, "12:00 to 13:10, start inclusive, end exclusive");
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        var runs = harness.Log.OfSchedule("s");
        runs.Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Should().Equal(70, 80, 0, 10, 20, 30, 40, 50, 60);
        runs.Where(r => r.Kind == RunKind.Backfill).Select(r => r.Key).Should().OnlyHaveUniqueItems().And.AllSatisfy(k => k.Should().StartWith("s@"));
        ids[7].Should().Be(runs[0].RunId, "a fire time that ran already is returned, not run again");
        long started = (await schedules.DescribeAsync("s")).Counters.Runs;
        started.Should().Be(9, "each run started, backfilled or not, counted once");

        var again = await schedules.BackfillAsync("s", s_start, s_start.AddHours(1).AddMinutes(15));
        again.Should().Equal(ids, "the same keys: nothing new");
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        harness.Log.OfSchedule("s").Should().HaveCount(9);
        (await schedules.DescribeAsync("s")).Counters.Runs.Should().Be(started);

        await FluentActions.Awaiting(() => schedules.BackfillAsync("s", s_start, harness.Time.GetUtcNow().AddMinutes(1)).AsTask()).Should().ThrowAsync<ArgumentException>().Where(e => e.ParamName == "rangeEnd");
        await FluentActions.Awaiting(() => schedules.BackfillAsync("s", s_start, s_start).AsTask()).Should().ThrowAsync<ArgumentException>();
    }

    [Test]
    public async Task Backfill_OfAnOccurrenceSkippedByTheUser_RunsIt_Once()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "1m"));
        await harness.RunForAsync(TimeSpan.FromSeconds(30));
        var pending = (await harness.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Pending] })).Items.First();
        await harness.Scheduler.BulkDeleteAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Pending], Kinds = [RunKind.Occurrence] });
        (await harness.Scheduler.GetAsync(pending.Id))!.Status.Should().Be(RunStatus.Skipped);
        await harness.RunUntilAsync(pending.ScheduledTime.AddSeconds(30));

        var ids = await schedules.BackfillAsync("s", pending.ScheduledTime, pending.ScheduledTime.AddSeconds(1));
        ids.Single().Should().NotBe(pending.Id);
        (await schedules.BackfillAsync("s", pending.ScheduledTime, pending.ScheduledTime.AddSeconds(1))).Should().Equal(ids);
        await harness.RunForAsync(TimeSpan.FromSeconds(1));
        harness.Log.Invocations.Where(i => i.Scheduled == pending.ScheduledTime).Should().ContainSingle().Which.Key.Should().EndWith("~backfill");
    }

    [Test]
    public async Task Update_BetweenTwoOccurrences_AppliesTheNewSpecFromNow_WithdrawingOccurrencesCreatedAhead()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s"));
        await harness.RunUntilAsync(s_start.AddSeconds(12));
        var updated = await schedules.UpdateAsync("s", d => d with { Spec = ScheduleSpec.FromInterval("15s") });
        updated.Definition.Spec.Intervals.Single().Every.Should().Be(TimeSpan.FromSeconds(15));
        await harness.RunUntilAsync(s_start.AddSeconds(60));
        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10, 15, 30, 45, 60);
        (await harness.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", Statuses = [RunStatus.Pending] })).Items
            .Should().AllSatisfy(r => (Second(r.ScheduledTime) % 15).Should().Be(0));

        var unchanged = await schedules.UpdateAsync("s", _ => null);
        unchanged.Version.Should().Be(updated.Version, "a callback returning null changes nothing");
        await FluentActions.Awaiting(() => schedules.UpdateAsync("s", d => d with { Id = "other" }).AsTask()).Should().ThrowAsync<ScheduleSpecException>().Where(e => e.Field == "Id");
        await FluentActions.Awaiting(() => schedules.UpdateAsync("absent", d => d).AsTask()).Should().ThrowAsync<ScheduleNotFoundException>();
    }

    [Test]
    public async Task Update_OfInputAndMetadata_AppliesToTheNextOccurrence_NotOnlyToThoseBeyondTheLookAhead()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition
        {
            Id = "r",
            WorkflowName = "report",
            Spec = ScheduleSpec.FromInterval("10s"),
            Input = new ReportInput("eu", 1),
            Metadata = new Dictionary<string, string> { ["tenant"] = "acme" },
        });
        await harness.RunUntilAsync(s_start.AddSeconds(12)); // occurrences are created ahead (the look-ahead) by now

        await schedules.UpdateAsync("r", d => d with { Input = new ReportInput("us", 2), Metadata = new Dictionary<string, string> { ["tenant"] = "globex" } });
        await harness.RunUntilAsync(s_start.AddSeconds(35));

        var runs = harness.Log.OfSchedule("r");
        runs.Select(r => Second(r.Scheduled)).Should().Equal(10, 20, 30);
        runs.Select(r => r.Input).Should().Equal(new ReportInput("eu", 1), new ReportInput("us", 2), new ReportInput("us", 2));
        foreach (var run in runs.Skip(1))
        {
            (await harness.Scheduler.GetAsync(run.RunId))!.Metadata.Should().BeEquivalentTo(new Dictionary<string, string> { ["tenant"] = "globex" });
        }
    }

    [TestCase("input")]
    [TestCase("spec")]
    public async Task Update_WithAFeedLandingBetweenItsWriteAndItsWithdrawal_LosesNoOccurrence(string change)
    {
        // A feed of the loop that read the new definition before the update withdrew what was created ahead made the
        // new definition's occurrences (or found the old ones under the same keys), moved its watermark past them, and
        // the withdrawal then deleted them: nothing ran until past the look-ahead.
        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(flaky);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "r", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1) });
        await harness.RunUntilAsync(s_start.AddSeconds(12)); // 20, 30 and 40 created ahead by now

        var fedAfterTheWrite = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        flaky.AfterInsert = runs =>
        {
            if (runs.Any(r => r.ScheduleId == "r" && r.CreatedAt > s_start.AddSeconds(12)))
            {
                fedAfterTheWrite.TrySetResult();
            }
        };
        flaky.AfterScheduleUpdate = async () =>
        {
            flaky.AfterScheduleUpdate = null;
            harness.Time.SetUtcNow(s_start.AddSeconds(17)); // the loop's next feed falls due now, between write and withdrawal
            // Real time, bounded, never asserted on: the feed lands here unless it waits for the update to finish.
            await Task.WhenAny(fedAfterTheWrite.Task, Task.Delay(TimeSpan.FromSeconds(1)));
        };
        await schedules.UpdateAsync("r", d => change == "input" ? d with { Input = new ReportInput("us", 2) } : d with { Spec = ScheduleSpec.FromInterval("5s"), Input = new ReportInput("us", 2) });
        await harness.RunUntilAsync(s_start.AddSeconds(65));

        var runs = harness.Log.OfSchedule("r");
        var expected = change == "input" ? new[] { 10, 20, 30, 40, 50, 60 } : [10, .. Enumerable.Range(3, 11).Select(i => i * 5)];
        runs.Select(r => Second(r.Scheduled)).Should().Equal(expected, "every fire time after the update runs once, with the new definition");
        runs.Skip(1).Should().AllSatisfy(r => r.Input.Should().Be(new ReportInput("us", 2)));
    }

    [TestCase("input")]
    [TestCase("spec")]
    public async Task Update_WithAnotherInstancesFeedLandingBetweenItsWriteAndItsWithdrawal_LosesNoOccurrence(string change)
    {
        // Two schedulers on one store (a fleet): the other's planner is not held while this one updates. A feed of its
        // that read the new definition before the withdrawal created occurrences the withdrawal then deleted, with the
        // new definition's watermark already past them.
        var shared = new InMemorySchedulingStore();
        var flaky = new FlakyStore(shared);
        await using var a = Harness(flaky);
        await using var b = Harness(shared);
        await a.StartAsync();
        await b.StartAsync();
        Task RunBothUntil(int second) => SchedulerHarness.RunTogetherUntilAsync(s_start.AddSeconds(second), TimeSpan.FromSeconds(1), a, b);

        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "r", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1) });
        await RunBothUntil(12);

        Task? otherFeed = null;
        flaky.AfterScheduleUpdate = async () =>
        {
            flaky.AfterScheduleUpdate = null;
            otherFeed = b.RunUntilAsync(s_start.AddSeconds(17)); // the other's feed falls due between this one's write and withdrawal
            // Real time, bounded, never asserted on: the feed lands here unless it waits for the update to finish.
            await Task.WhenAny(otherFeed, Task.Delay(TimeSpan.FromSeconds(1)));
        };
        await a.Scheduler.Schedules.UpdateAsync("r", d => change == "input" ? d with { Input = new ReportInput("us", 2) } : d with { Spec = ScheduleSpec.FromInterval("5s"), Input = new ReportInput("us", 2) });
        await otherFeed!;
        await RunBothUntil(65);

        var runs = a.Log.OfSchedule("r").Concat(b.Log.OfSchedule("r")).OrderBy(r => r.Scheduled).ToList();
        var expected = change == "input" ? new[] { 10, 20, 30, 40, 50, 60 } : [10, .. Enumerable.Range(3, 11).Select(i => i * 5)];
        runs.Select(r => Second(r.Scheduled)).Should().Equal(expected, "every fire time after the update runs once, on one of the two");
        runs.Skip(1).Should().AllSatisfy(r => r.Input.Should().Be(new ReportInput("us", 2)));
    }

    [TestCase("input")]
    [TestCase("spec")]
    public async Task Update_LandingAfterAnotherInstanceReadTheOldDefinition_NeverRunsTheOldOneAgain(string change)
    {
        // The other instance's pass read the schedules (the old definition), then waited for the store's planning lock
        // while this one updated: it went on with what it had read, and created the old definition's next occurrence
        // after the withdrawal. That one ran with the old input; the new definition's, under the same key, was refused.
        var shared = new InMemorySchedulingStore();
        var flaky = new FlakyStore(shared);
        await using var a = Harness(shared);
        await using var b = Harness(flaky);
        await a.StartAsync();
        await b.StartAsync();
        Task RunBothUntil(int second) => SchedulerHarness.RunTogetherUntilAsync(s_start.AddSeconds(second), TimeSpan.FromSeconds(1), a, b);

        // At 7 s past each 10: the other's pass at 15 s (polls 5 s apart) creates the one at 137 s (the look-ahead is two
        // minutes), and none is due at 15 s.
        var every10At7 = new ScheduleSpec { Intervals = [new ScheduleInterval(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(7))] };
        await a.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "r", WorkflowName = "report", Spec = every10At7, Input = new ReportInput("eu", 1) });
        await RunBothUntil(12); // 17 to 127 created ahead

        flaky.BeforePlanning = async () =>
        {
            flaky.BeforePlanning = null;
            await a.Scheduler.Schedules.UpdateAsync("r", d => change == "input" ? d with { Input = new ReportInput("us", 2) } : d with { Spec = ScheduleSpec.FromInterval("5s"), Input = new ReportInput("us", 2) });
        };
        await b.RunUntilAsync(s_start.AddSeconds(15));
        flaky.BeforePlanning.Should().BeNull("the other's pass waited for the planning lock while the update landed");
        await RunBothUntil(140);

        var runs = a.Log.OfSchedule("r").Concat(b.Log.OfSchedule("r")).OrderBy(r => r.Scheduled).ToList();
        var expected = change == "input" ? Enumerable.Range(0, 14).Select(i => 7 + (i * 10)).ToArray() : [7, .. Enumerable.Range(3, 26).Select(i => i * 5)];
        runs.Select(r => Second(r.Scheduled)).Should().Equal(expected, "every fire time after the update runs once, on one of the two");
        runs.Skip(1).Should().AllSatisfy(r => r.Input.Should().Be(new ReportInput("us", 2)), "no occurrence of the old definition is made after the update");
    }

    [Test]
    public async Task TheMissedMetric_SaysWhatTheMissedCounterSays_WhenAPassFailsToStoreTheCount()
    {
        // The planner told the meter of the fire times a resume dropped before storing their count: when that write
        // failed, the meter had them and the counter did not.
        const string id = "metric-missed";
        long metered = 0;
        using var meters = new System.Diagnostics.Metrics.MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Durable.Scheduling" && instrument.Name == "durable.scheduling.occurrences.missed")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "schedule" && (string?)tag.Value == id)
                {
                    Interlocked.Add(ref metered, value);
                }
            }
        });
        meters.Start();

        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(flaky);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every(id, "10s") with { CatchUp = CatchUpPolicy.ExactlyOncePerIntervalWhenActive });
        await harness.RunUntilAsync(s_start.AddSeconds(12));
        await schedules.PauseAsync(id);
        await harness.RunUntilAsync(s_start.AddMinutes(10).AddSeconds(5)); // 20 s to 10 min: held (made ahead), then never made

        int counts = 0;
        flaky.FailCountsWhen = changes => changes.Any(c => c.ScheduleId == id && c.Delta.Missed > 0) && ++counts == 2; // the planner's, after the resume's own
        await schedules.ResumeAsync(id);
        await harness.RunUntilAsync(s_start.AddMinutes(11));

        flaky.Failures.Should().Be(1, "the planner's write of the missed count failed once");
        var stored = (await schedules.DescribeAsync(id)).Counters.Missed;
        stored.Should().BePositive("the held occurrences the resume skipped are counted");
        Interlocked.Read(ref metered).Should().Be(stored, "the meter reports what was stored, no more");
    }

    [Test]
    public async Task AFeedWhoseInsertFails_CreatesThoseOccurrencesAtTheNextFeed()
    {
        // The planner moved its watermark in memory before the insert; when the insert failed, the next feed took the
        // occurrences as created, and they never ran.
        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(flaky);
        await harness.StartAsync();
        await harness.Scheduler.Schedules.CreateAsync(Every("s", "10s"));
        await harness.RunUntilAsync(s_start.AddSeconds(12)); // created up to the look-ahead (two minutes)

        flaky.FailInserts = 1; // the next feed that creates occurrences (the horizon moving past 140 s) fails
        await harness.RunUntilAsync(s_start.AddSeconds(200));

        flaky.Failures.Should().Be(1);
        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(Enumerable.Range(1, 20).Select(i => i * 10));
    }

    [Test]
    public async Task Update_WhileThePlannerIsBehind_LeavesNoFireTimeUnaccounted()
    {
        // The store was unreachable for minutes, so fire times past the look-ahead were never created; an update made
        // as it came back started the new definition's watermark at the update, and those fire times were neither run
        // nor counted as missed.
        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(flaky);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "r", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1) });
        await harness.RunUntilAsync(s_start.AddSeconds(12)); // created ahead up to the look-ahead (two minutes)

        flaky.Down = true;
        await harness.RunUntilAsync(s_start.AddMinutes(5));
        flaky.Down = false;
        await schedules.UpdateAsync("r", d => d with { Input = new ReportInput("us", 2) }); // before the loop's next feed
        await harness.RunUntilAsync(s_start.AddMinutes(6).AddSeconds(5));

        var ran = harness.Log.OfSchedule("r").Select(r => Second(r.Scheduled)).ToList();
        ran.Should().OnlyHaveUniqueItems();
        var described = await schedules.DescribeAsync("r");
        long accounted = ran.Count + described.Counters.Missed;
        accounted.Should().Be(36, "each fire time from 10 s to 6 min either ran or was counted as missed (runs {0}, missed {1})", string.Join(",", ran), described.Counters.Missed);
        harness.Log.OfSchedule("r").Should().AllSatisfy(r => r.Input.Should().Be(Second(r.Scheduled) <= 300 ? new ReportInput("eu", 1) : new ReportInput("us", 2)),
            "the fire times up to the update are the old definition's, run with its input");
    }

    [Test]
    public async Task Update_BeforeTheFailedPassOfAResumeIsRetried_TheOldSpecsFireTimesInThePause_RunByItsPolicy_WithItsInput()
    {
        // The resume's pass failed (its insert), and the spec changed before the retry. The failed pass had moved the
        // schedule's watermark past the pause in memory, the new spec started from there, and the old spec's fire times
        // in the pause (those past the look-ahead when it was paused, never made) were neither run nor counted as missed.
        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(flaky);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "r", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1) });
        await harness.RunUntilAsync(s_start.AddSeconds(25));
        await schedules.PauseAsync("r");
        await harness.RunUntilAsync(s_start.AddSeconds(601)); // 30 to 600 fall in the pause

        flaky.FailInserts = 1;
        await schedules.ResumeAsync("r");
        await harness.RunUntilAsync(s_start.AddSeconds(601.5)); // the retry comes a poll later
        flaky.FailInserts.Should().Be(0, "the resume's pass failed at its insert");
        await schedules.UpdateAsync("r", d => d with { Spec = ScheduleSpec.FromInterval("15s"), Input = new ReportInput("us", 2) });
        await harness.RunUntilAsync(s_start.AddSeconds(631));

        var runs = harness.Log.OfSchedule("r");
        runs.Should().OnlyHaveUniqueItems(r => r.Scheduled);
        runs.Where(r => r.Input is ReportInput { Region: "eu" }).Select(r => Second(r.Scheduled)).Order().Should().Equal(
            Enumerable.Range(1, 60).Select(i => 10 * i), "the pause's fire times are the old spec's, each run once by its policy (ExactlyOncePerInterval), with its input");
        runs.Where(r => r.Input is ReportInput { Region: "us" }).Select(r => Second(r.Scheduled)).Should().Equal(
            [615, 630], "the new spec fires from the update on");
        (await schedules.DescribeAsync("r")).Counters.Missed.Should().Be(0);
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerInterval, 10, 0)]
    [TestCase(CatchUpPolicy.Latest, 1, 9)]
    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, 0, 10)]
    public async Task ResumeThenUpdateAtOnce_ThePausesFireTimesAreTheOldSpecs_DecidedByItsPolicy_NotTheNewSpecs(CatchUpPolicy policy, int caughtUp, int missed)
    {
        // What an application does when it resumes a schedule with a new spec: two calls, one after the other, before
        // the loop has planned the resume. The pause's fire times are the spec's that was paused.
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "r", WorkflowName = "report", Spec = ScheduleSpec.FromCron("0 */10 * * * *"), Input = new ReportInput("eu", 1), CatchUp = policy });
        await harness.RunUntilAsync(s_start.AddMinutes(5));
        await schedules.PauseAsync("r");
        await harness.RunUntilAsync(s_start.AddMinutes(105).AddSeconds(30)); // 10 to 100 min: ten fire times in the pause

        await schedules.ResumeAsync("r");
        await schedules.UpdateAsync("r", d => d with { Spec = ScheduleSpec.FromCron("0 */7 * * * *"), Input = new ReportInput("us", 2) });
        await harness.RunUntilAsync(s_start.AddMinutes(120));

        var runs = harness.Log.OfSchedule("r");
        runs.Should().OnlyHaveUniqueItems(r => r.Scheduled);
        var old = runs.Where(r => r.Input is ReportInput { Region: "eu" }).Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Order().ToList();
        old.Should().Equal(Enumerable.Range(1, 10).Select(i => 10 * i).TakeLast(caughtUp), "the pause's fire times are the old spec's, decided by {0}", policy);
        runs.Where(r => r.Input is ReportInput { Region: "us" }).Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Should().Equal(
            [109, 116, 120], "the new spec fires from the update on (minutes 0, 7, ..., 56 of each hour)");
        (await schedules.DescribeAsync("r")).Counters.Missed.Should().Be(missed);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task AfterARestart_ResumeThenUpdateAtOnce_ThePauseIsStillDecided_AsThePausedSpecs(bool sqlite)
    {
        // A paused schedule is not planned, so after a restart the loop has never read its watermark; the update came
        // before the resume's pass read it, and the store keeps no watermark for a spec no longer current.
        string file = Path.Combine(Path.GetTempPath(), $"durable-schedules-{Guid.NewGuid():N}.db");
        var memory = new Durable.Scheduling.Storage.InMemory.InMemorySchedulingStore();
        ISchedulingStore Open() => sqlite ? new Durable.Scheduling.Sqlite.SqliteSchedulingStore(new Durable.Scheduling.Sqlite.SqliteSchedulingOptions { ConnectionString = $"Data Source={file}" }) : memory;
        try
        {
            var first = Open();
            await using (var before = Harness(first))
            {
                await before.StartAsync();
                await before.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "r", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1) });
                await before.RunUntilAsync(s_start.AddSeconds(25));
                await before.Scheduler.Schedules.PauseAsync("r");
                await before.RunUntilAsync(s_start.AddSeconds(30));
            }

            if (sqlite && first is IAsyncDisposable down)
            {
                await down.DisposeAsync(); // the process went down
            }

            var second = Open();
            await using var closeSecond = sqlite && second is IAsyncDisposable disposable ? disposable : null;
            var flaky = new FlakyStore(second);
            await using var after = new SchedulerHarness(s_start.AddMinutes(10), [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), flaky);
            await after.StartAsync();
            await after.RunUntilAsync(s_start.AddMinutes(10).AddSeconds(1));

            // The loop's pass after the resume waits (at its read of the schedules) until the update is written.
            var updated = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            flaky.OnScheduleChangesRead = () =>
            {
                flaky.OnScheduleChangesRead = null;
                updated.Task.Wait(TimeSpan.FromSeconds(10)); // real time, bounded, never asserted on
            };
            await after.Scheduler.Schedules.ResumeAsync("r");
            await after.Scheduler.Schedules.UpdateAsync("r", d => d with { Spec = ScheduleSpec.FromInterval("15s"), Input = new ReportInput("us", 2) });
            updated.SetResult();
            await after.RunUntilAsync(s_start.AddMinutes(10).AddSeconds(31));

            var runs = after.Log.OfSchedule("r");
            runs.Should().OnlyHaveUniqueItems(r => r.Scheduled);
            runs.Where(r => r.Input is ReportInput { Region: "eu" }).Select(r => Second(r.Scheduled)).Order().Should().Equal(
                Enumerable.Range(3, 58).Select(i => 10 * i), "the pause's fire times (30 s to 10 min; 10 and 20 ran before it) are the paused spec's, each run once (ExactlyOncePerInterval)");
            runs.Where(r => r.Input is ReportInput { Region: "us" }).Select(r => Second(r.Scheduled)).Should().Equal([615, 630]);
            (await after.Scheduler.Schedules.DescribeAsync("r")).Counters.Missed.Should().Be(0);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var f in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(file) + "*"))
            {
                File.Delete(f);
            }
        }
    }

    [Test]
    public async Task Update_OfALimit_WithAFeedUsingRunsAfterTheCallbacksRead_RunsExactlyTheNewLimit()
    {
        // The new limit is set from the runs used so far, as read before the callback; a feed that created occurrences
        // (using runs) after that read made them count as unused.
        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(flaky);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "l", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1), MaxRuns = 40 });
        await harness.RunUntilAsync(s_start.AddSeconds(12));

        var fed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        flaky.AfterInsert = runs =>
        {
            if (runs.Any(r => r.ScheduleId == "l" && r.CreatedAt > s_start.AddSeconds(12)))
            {
                fed.TrySetResult();
            }
        };
        int calls = 0;
        await schedules.UpdateAsync("l", d =>
        {
            if (calls++ == 0)
            {
                harness.Time.SetUtcNow(s_start.AddSeconds(17)); // a feed falls due after the read, and uses a run
                fed.Task.Wait(TimeSpan.FromSeconds(10)).Should().BeTrue("the feed creates the next occurrence");
            }

            return d with { MaxRuns = 50 };
        });
        await harness.RunUntilAsync(s_start.AddMinutes(10));

        harness.Log.OfSchedule("l").Should().HaveCount(50);
        (await schedules.DescribeAsync("l")).RemainingRuns.Should().Be(0);
    }

    [TestCase("input")]
    [TestCase("spec")]
    public async Task Update_OfALimitedSchedule_StillRunsItsRemainingRuns_AfterWithdrawingThoseCreatedAhead(string change)
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "five", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1), MaxRuns = 5 });
        await harness.RunUntilAsync(s_start.AddSeconds(12)); // all five created ahead by now (the look-ahead)

        await schedules.UpdateAsync("five", d => change == "input" ? d with { Input = new ReportInput("us", 2) } : d with { Spec = ScheduleSpec.FromInterval("5s") });
        await harness.RunUntilAsync(s_start.AddMinutes(2));

        harness.Log.OfSchedule("five").Should().HaveCount(5, "the occurrences withdrawn by the update were not runs: their places are taken by new ones");
        var described = await schedules.DescribeAsync("five");
        described.RemainingRuns.Should().Be(0);
        described.Counters.Runs.Should().Be(5);
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerInterval)]
    [TestCase(CatchUpPolicy.Latest)]
    public async Task Update_OfALimitedScheduleThatMadeAllItsRuns_WithMoreRuns_RunsThemFromTheUpdateOn(CatchUpPolicy policy)
    {
        // The fire times after its last run, up to the update, were past its limit: not occurrences, so neither run
        // nor missed when the update gives it more runs.
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "three", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1), MaxRuns = 3, CatchUp = policy });
        await harness.RunUntilAsync(s_start.AddMinutes(5));
        await schedules.UpdateAsync("three", d => d with { Spec = ScheduleSpec.FromInterval("15s"), Input = new ReportInput("us", 2), MaxRuns = 6 });
        await harness.RunUntilAsync(s_start.AddMinutes(7));

        harness.Log.OfSchedule("three").Select(r => (Second(r.Scheduled), ((ReportInput)r.Input!).Region)).Should().Equal(
            [(10, "eu"), (20, "eu"), (30, "eu"), (315, "us"), (330, "us"), (345, "us")]);
        var described = await schedules.DescribeAsync("three");
        described.Counters.Missed.Should().Be(0);
        described.RemainingRuns.Should().Be(0);
    }

    [Test]
    public async Task Update_ThatLimitsAnUnlimitedSchedule_AndChangesItsInput_RunsExactlyTheLimit()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "open", WorkflowName = "report", Spec = ScheduleSpec.FromInterval("10s"), Input = new ReportInput("eu", 1) });
        await harness.RunUntilAsync(s_start.AddSeconds(12)); // occurrences created ahead, counted against no limit

        await schedules.UpdateAsync("open", d => d with { Input = new ReportInput("us", 2), MaxRuns = 3 });
        await harness.RunUntilAsync(s_start.AddMinutes(3));

        harness.Log.OfSchedule("open").Select(r => r.Input).Should().Equal(new ReportInput("eu", 1), new ReportInput("us", 2), new ReportInput("us", 2), new ReportInput("us", 2));
        (await schedules.DescribeAsync("open")).RemainingRuns.Should().Be(0);
    }

    [Test]
    public async Task AConflictingUpdate_RunsTheCallbackAgain_OnTheNewerDefinition()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s"));
        int calls = 0;
        var result = await schedules.UpdateAsync("s", d =>
        {
            if (++calls == 1)
            {
                // Another writer lands between this read and its write.
                schedules.UpdateAsync("s", other => other with { Metadata = new Dictionary<string, string> { ["owner"] = "ops" } }).AsTask().GetAwaiter().GetResult();
            }

            return d with { MaxRuns = 100 };
        });
        calls.Should().Be(2);
        result.Definition.MaxRuns.Should().Be(100);
        result.Definition.Metadata.Should().ContainKey("owner", "the other writer's change is kept");

        int forever = 0;
        var conflict = await FluentActions.Awaiting(() => schedules.UpdateAsync("s", d =>
        {
            schedules.PauseAsync("s", $"interference {forever++}").AsTask().GetAwaiter().GetResult();
            return d with { MaxRuns = 7 };
        }).AsTask()).Should().ThrowAsync<ScheduleStateException>();
        conflict.Which.Reason.Should().Be(ScheduleRefusal.Conflict);
    }

    [Test]
    public async Task Delete_RacingAClaim_StopsFutureRunsAtOnce_AndLeavesTheRunningOneAlone()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s", workflow: "slow-tick"));
        await harness.RunUntilAsync(s_start.AddSeconds(19.9)); // 10 running; 20 in the wheel, due in 100 ms
        (await schedules.DeleteAsync("s")).Should().BeTrue();
        await harness.RunUntilAsync(s_start.AddSeconds(120));

        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10);
        var runs = (await harness.Scheduler.ListAsync(new RunQuery { ScheduleId = "s" })).Items;
        runs.Where(r => Second(r.ScheduledTime) < 20).Should().AllSatisfy(r => r.Status.Should().Be(RunStatus.Succeeded, "running runs finish"));
        runs.Where(r => Second(r.ScheduledTime) >= 20).Should().BeEmpty("pending occurrences were withdrawn and none created again");
        (await schedules.DeleteAsync("s")).Should().BeFalse();
        await FluentActions.Awaiting(() => schedules.DescribeAsync("s").AsTask()).Should().ThrowAsync<ScheduleNotFoundException>();
        (await schedules.ListAsync(new ScheduleQuery())).Items.Should().BeEmpty();
    }

    [TestCase("in memory")]
    [TestCase("SQLite")]
    public async Task ADeletedIdCreatedAgain_IsANewSchedule_RunningEveryFireTimeFromItsCreation(string storeName)
    {
        // The deleted schedule had planned ahead (its watermark and counters were stored under the id): the new schedule
        // of that id must not inherit them, nor lose the fire times the old one had created ahead and withdrawn.
        using var storage = new SharedStorage(storeName, "recreate");
        var store = storage.NewStore();
        await using var harness = Harness(store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s") with { MaxRuns = 5 });
        await harness.RunUntilAsync(s_start.AddSeconds(35));
        (await schedules.DeleteAsync("s")).Should().BeTrue();
        await schedules.CreateAsync(Every("s", "10s") with { MaxRuns = 5 });
        // (RemainingRuns is not read here: the loop, woken by the create, may already have created occurrences ahead.)
        var described = await schedules.DescribeAsync("s");
        described.Counters.Runs.Should().Be(0, "a new schedule counts from zero");
        described.NextFireTimes[0].Instant.Should().Be(s_start.AddSeconds(40));
        await harness.RunUntilAsync(s_start.AddMinutes(3));

        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10, 20, 30, 40, 50, 60, 70, 80);
        described = await schedules.DescribeAsync("s");
        described.Counters.Runs.Should().Be(5, "its own limit of five, none used by the old schedule");
        described.RemainingRuns.Should().Be(0);

        // Run keys are the id and the instant: a backfill over instants the old schedule ran returns those runs.
        var oldRuns = (await harness.Scheduler.ListAsync(new RunQuery { ScheduleId = "s", ScheduledTo = s_start.AddSeconds(35) })).Items.Select(r => r.Id);
        var backfilled = await schedules.BackfillAsync("s", s_start, s_start.AddSeconds(35));
        await harness.RunUntilAsync(s_start.AddMinutes(4));
        backfilled.Should().HaveCount(4).And.Contain(oldRuns);
        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10, 20, 30, 40, 50, 60, 70, 80, 0);
    }

    [Test]
    public async Task ALimitedSchedule_RunsItsRuns_ThenFiresNoMore()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s") with { MaxRuns = 3 });
        await harness.RunUntilAsync(s_start.AddMinutes(5));
        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal(10, 20, 30);
        var described = await schedules.DescribeAsync("s");
        described.RemainingRuns.Should().Be(0);
        described.NextFireTimes.Should().BeEmpty();
        described.Counters.Runs.Should().Be(3);
        (await schedules.TriggerAsync("s")).Should().NotBeNull("a trigger is not limited");
    }

    [Test]
    public async Task ALimitedSchedule_WhoseRunsAreMadeAhead_StillShowsThemAsItsNextFireTimes_InDescribeAndList()
    {
        // Remaining runs fall as occurrences are made, up to the look-ahead before their instant: a schedule of three runs
        // every 10 s had none left at once, and was described as never firing again (and listed without a next fire
        // time) while its three runs were still to come.
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("three", "10s") with { MaxRuns = 3 });
        await schedules.CreateAsync(Every("five", "1m") with { MaxRuns = 5 });
        await harness.RunUntilAsync(s_start.AddSeconds(5.5));

        var three = await schedules.DescribeAsync("three");
        three.RemainingRuns.Should().Be(0, "its three occurrences are made ahead at once");
        three.NextFireTimes.Select(f => Second(f.Instant)).Should().Equal(10, 20, 30);
        var five = await schedules.DescribeAsync("five");
        five.RemainingRuns.Should().Be(3, "two of its occurrences fall in the look-ahead");
        five.NextFireTimes.Select(f => Second(f.Instant)).Should().Equal(60, 120, 180, 240, 300);
        (await schedules.DescribeAsync("three", nextFireTimes: 2)).NextFireTimes.Select(f => Second(f.Instant)).Should().Equal(10, 20);
        (await ListedAsync()).Should().Be(10);

        await harness.RunUntilAsync(s_start.AddSeconds(25.5));
        (await schedules.DescribeAsync("three")).NextFireTimes.Select(f => Second(f.Instant)).Should().Equal(30);
        (await ListedAsync()).Should().Be(30);
        await harness.RunUntilAsync(s_start.AddSeconds(35.5));
        (await schedules.DescribeAsync("three")).NextFireTimes.Should().BeEmpty("all three have run");
        (await ListedAsync()).Should().BeNull();

        async Task<int?> ListedAsync()
        {
            var item = (await schedules.ListAsync(new ScheduleQuery { IdPrefix = "three" })).Items.Single();
            return item.NextFireTime is { } t ? Second(t) : null;
        }
    }

    [Test]
    public async Task CreatingALimitedSchedule_DoesNotWaitForThePlanningLock()
    {
        // Its description counts runs made ahead under the store's planning lock; a new schedule has made none, so its
        // create must not wait behind a planner pass (of any instance sharing the store) for that.
        var store = new InMemorySchedulingStore();
        await using var harness = Harness(store);
        await harness.StartAsync();
        var planning = await ((ISchedulingStore)store).EnterPlanningAsync(default); // a default interface method
        await using (planning)
        {
            var create = harness.Scheduler.Schedules.CreateAsync(Every("three", "10s") with { MaxRuns = 3 });
            create.IsCompleted.Should().BeTrue("the in-memory store answers at once: only a wait for the lock could hold the call");
            (await create).NextFireTimes.Select(f => Second(f.Instant)).Should().Equal(10, 20, 30);
        }
    }

    [TestCase(CatchUpPolicy.ExactlyOncePerIntervalWhenActive, new int[0])]
    [TestCase(CatchUpPolicy.Latest, new[] { 30 })]
    [TestCase(CatchUpPolicy.ExactlyOncePerInterval, new[] { 10, 20, 30 })]
    public async Task ALimitedScheduleThatMadeAllItsRuns_ResumedAfterThemAll_FollowsItsCatchUpPolicy(CatchUpPolicy policy, int[] expected)
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s") with { MaxRuns = 3, CatchUp = policy });
        await harness.RunUntilAsync(s_start.AddSeconds(5.5));
        (await schedules.DescribeAsync("s")).RemainingRuns.Should().Be(0, "its three occurrences are made ahead at once");
        await schedules.PauseAsync("s");
        await harness.RunUntilAsync(s_start.AddSeconds(60.5));
        await schedules.ResumeAsync("s");
        await harness.RunUntilAsync(s_start.AddMinutes(5));

        var ran = harness.Log.OfSchedule("s");
        ran.Select(r => Second(r.Scheduled)).Order().Should().Equal(expected, "all three fell in the pause: the policy decides at the resume (they start together)");
        ran.Where(r => r.Started != s_start.AddSeconds(60.5)).Should().BeEmpty("what runs, runs at the resume");
        var described = await schedules.DescribeAsync("s");
        described.Counters.Missed.Should().Be(3 - expected.Length);
        described.Counters.Runs.Should().Be(expected.Length);
    }

    [Test]
    public async Task OccurrencesSkippedByAResume_AreCountedMissed_EvenWhenALaterWriteOfThatPassFails()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(Every("s", "10s") with { CatchUp = CatchUpPolicy.ExactlyOncePerIntervalWhenActive });
        await harness.RunUntilAsync(s_start.AddSeconds(5.5));
        await schedules.PauseAsync("s"); // its occurrences made ahead are held
        await harness.RunUntilAsync(s_start.AddSeconds(60.5));

        // The resume's pass skips the six held ones that fell in the pause, then fails to create the next ones; the
        // pass after it finds those six skipped already.
        store.FailInserts = 1;
        await schedules.ResumeAsync("s");
        await harness.RunUntilAsync(s_start.AddMinutes(3));
        store.FailInserts.Should().Be(0, "the resume's pass failed at its insert");
        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().NotContain(t => t <= 60, "none of the pause's fire times runs under this policy");
        (await schedules.DescribeAsync("s")).Counters.Missed.Should().Be(6, "10 s to 60 s, each once");
    }

    [Test]
    public async Task ALimitedSchedule_WhosePassFailedToStoreItsWatermark_StillRunsExactlyItsLimit()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = Harness(store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        store.FailWatermarks = 1; // the first pass makes the three runs, then fails to store how far it got
        await schedules.CreateAsync(Every("s", "10s") with { MaxRuns = 3 });
        await harness.RunUntilAsync(s_start.AddMinutes(5));
        store.FailWatermarks.Should().Be(0);
        harness.Log.OfSchedule("s").Select(r => Second(r.Scheduled)).Should().Equal([10, 20, 30], "the runs the failed pass made used the limit, and the next pass found them made");
        (await schedules.DescribeAsync("s")).RemainingRuns.Should().Be(0);
    }

    [Test]
    public async Task Jitter_DelaysEachStart_ByAFixedAmountBelowIt_WithoutChangingTheInstantOrKey()
    {
        var delays = new List<List<TimeSpan>>();
        for (int round = 0; round < 2; round++)
        {
            await using var harness = Harness();
            await harness.StartAsync();
            await harness.Scheduler.Schedules.CreateAsync(Every("s", "1m") with { Spec = ScheduleSpec.FromInterval("1m") with { Jitter = TimeSpan.FromSeconds(30) } });
            await harness.RunUntilAsync(s_start.AddMinutes(10).AddSeconds(30));
            var runs = harness.Log.OfSchedule("s");
            runs.Should().HaveCount(10);
            runs.Should().AllSatisfy(r =>
            {
                (r.Scheduled.Second == 0 && r.Scheduled.Millisecond == 0).Should().BeTrue("the instant is the fire time");
                (r.Started - r.Scheduled).Should().BeGreaterThanOrEqualTo(TimeSpan.Zero).And.BeLessThan(TimeSpan.FromSeconds(30));
                r.Key.Should().Be(RunKeys.Occurrence("s", r.Scheduled));
            });
            delays.Add([.. runs.Select(r => r.Started - r.Scheduled)]);
        }

        delays[0].Should().Equal(delays[1], "the delay is fixed per schedule and occurrence");
        delays[0].Distinct().Should().HaveCountGreaterThan(5, "the delays spread");
    }

    [Test]
    public async Task List_FiltersAndPages_EachWithItsNextFireTimeAndCounts()
    {
        await using var harness = Harness();
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        for (int i = 0; i < 5; i++)
        {
            await schedules.CreateAsync(Every($"tenant-{i % 2}/s{i}", "1m", workflow: i == 4 ? "slow-tick" : "tick") with { Metadata = new Dictionary<string, string> { ["tier"] = i < 2 ? "gold" : "free" } }, paused: i == 3);
        }

        await harness.RunUntilAsync(s_start.AddSeconds(70));
        var page1 = await schedules.ListAsync(new ScheduleQuery { PageSize = 2 });
        page1.Items.Select(s => s.Id).Should().Equal("tenant-0/s0", "tenant-0/s2");
        var page2 = await schedules.ListAsync(new ScheduleQuery { PageSize = 2, ContinuationToken = page1.ContinuationToken });
        page2.Items.Select(s => s.Id).Should().Equal("tenant-0/s4", "tenant-1/s1");
        page1.Items[0].NextFireTime.Should().Be(s_start.AddMinutes(2));
        page1.Items[0].Counters.Succeeded.Should().Be(1);
        (await schedules.ListAsync(new ScheduleQuery { IdPrefix = "tenant-1/" })).Items.Select(s => s.Id).Should().Equal("tenant-1/s1", "tenant-1/s3");
        (await schedules.ListAsync(new ScheduleQuery { Paused = true })).Items.Select(s => s.Id).Should().Equal("tenant-1/s3");
        (await schedules.ListAsync(new ScheduleQuery { WorkflowName = "slow-tick" })).Items.Select(s => s.Id).Should().Equal("tenant-0/s4");
        (await schedules.ListAsync(new ScheduleQuery { Metadata = new Dictionary<string, string> { ["tier"] = "gold" } })).Items.Select(s => s.Id).Should().Equal("tenant-0/s0", "tenant-1/s1");
    }
}
