using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>The scheduler end to end under fake time: recurring schedules, DST, catch-up and exactly-once.</summary>
[TestFixture]
public sealed class SchedulerEngineTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task ScheduledWorkflow_OverSimulatedHour_RunsEveryOccurrenceOnce_AtItsInstant()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(EveryFiveSeconds)]);
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromHours(1));

        var runs = harness.Log.Of("every-5s");
        runs.Should().HaveCount(721, "12:00:00 to 13:00:00 inclusive holds 721 five-second occurrences");
        runs.Select(r => r.Scheduled).Should().OnlyHaveUniqueItems().And.BeInAscendingOrder();
        runs.Should().OnlyContain(r => r.Started == r.Scheduled, "under fake time each run starts exactly at its instant");
        runs[0].Scheduled.Should().Be(s_start, "on a schedule's first start, an occurrence at that very instant runs");
        runs[0].Key.Should().Be("every-5s@2026-06-01T12:00:00.0000000Z");
    }

    [TestCase(5)]
    [TestCase(10)]
    public async Task EveryMinute_WithALongPollInterval_NoOccurrenceHidesInTheWheel(int pollMinutes)
    {
        // With a long poll, occurrences enter the wheel minutes ahead, at a high level. A run added later, due soon
        // after one of them, is filed at a lower level: the wheel must still report the occurrence as the earliest,
        // or it starts late (at the later run's instant).
        await using var harness = new SchedulerHarness(s_start, [typeof(EveryMinute), typeof(OneTimeWorkflows)], o =>
        {
            o.PollInterval = TimeSpan.FromMinutes(pollMinutes);
            o.LookAhead = TimeSpan.FromSeconds(30); // the default
        });
        await harness.StartAsync();
        for (int minute = 1; minute < 60; minute += 2)
        {
            await harness.RunUntilAsync(s_start.AddMinutes(minute).AddSeconds(1));
            await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddMinutes(minute + 3).AddSeconds(30), new Reminder(minute, "x"));
        }

        await harness.RunUntilAsync(s_start.AddHours(1));
        var runs = harness.Log.Of("every-minute");
        runs.Should().HaveCount(61);
        runs.Should().OnlyContain(r => r.Started == r.Scheduled, "every occurrence starts at its instant");
        harness.Log.Of("send-reminder").Should().HaveCount(28).And.OnlyContain(r => r.Started == r.Scheduled);
    }

    [TestCase("2027-03-13T12:00:00.123Z", Description = "spring forward 2027-03-14: 02:30 does not exist")]
    [TestCase("2027-11-06T12:00:00.123Z", Description = "fall back 2027-11-07: 01:00-02:00 happens twice")]
    public async Task FixedAndIntervalSchedules_AcrossDstDays_WithTheClockAtFractionsOfASecond_MissNothing(string startText)
    {
        // The real clock always carries fractions: the scheduler starts at .123 past the second and every step of the
        // clock lands 123 ms after the instant its timer asked for. Every occurrence Cronos gives still runs, once.
        var start = DateTimeOffset.Parse(startText, System.Globalization.CultureInfo.InvariantCulture);
        var lag = TimeSpan.FromMilliseconds(123);
        var zone = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        await using var harness = new SchedulerHarness(start, [typeof(NewYorkGap), typeof(NewYorkDst)], o => o.PollInterval = TimeSpan.FromSeconds(1));
        await harness.StartAsync();
        await harness.RunUntilAsync(start.AddDays(2), lag);

        foreach (var (workflow, cron) in new[] { ("ny-fixed-0230", "0 30 2 * * *"), ("ny-fixed-0130", "0 30 1 * * *"), ("ny-interval-h1", "*/30 1-2 * * *") })
        {
            var expected = CronSchedule.GetNextOccurrences(cron, zone, start, 100).Where(t => t <= start.AddDays(2)).ToList();
            var runs = harness.Log.Of(workflow);
            runs.Select(r => r.Scheduled).Should().Equal(expected, "{0} runs every occurrence once, in order", workflow);
            runs.Should().OnlyContain(r => r.Started >= r.Scheduled && r.Started - r.Scheduled <= lag + TimeSpan.FromMilliseconds(10), "{0} runs each at its instant (plus the clock's lag)", workflow);
        }

        if (start.Month == 3)
        {
            harness.Log.Of("ny-fixed-0230").Select(r => r.Scheduled.UtcDateTime).Should().Contain(new DateTime(2027, 3, 14, 7, 0, 0), "02:30 in the gap fires when the gap ends");
        }
    }

    [Test]
    public async Task BulkDeletingPendingRuns_LeavesOccurrencesAlone_UnlessAskedFor_ThenRecordsThemAsSkippedByTheUser()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(EveryFiveSeconds), typeof(OneTimeWorkflows)]);
        await harness.StartAsync();
        await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddMinutes(1), new Reminder(1, "x"));
        var ahead = (await harness.Scheduler.ListAsync(new RunQuery { Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending], PageSize = 1000 })).Items;
        ahead.Should().NotBeEmpty("occurrences are created ahead (the look-ahead window)");

        // A one-time-run clean-up: occurrences are not touched by it.
        (await harness.Scheduler.BulkDeleteAsync(new RunQuery { Statuses = [RunStatus.Pending] })).Should().Be(1);
        (await harness.Scheduler.ListAsync(new RunQuery { Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending], PageSize = 1000 })).Items.Should().HaveCount(ahead.Count);

        // Explicitly: the occurrences of 12:00:30 to 12:00:55 are recorded as skipped by the user, and never run.
        var window = new RunQuery { Kinds = [RunKind.Occurrence], ScheduledFrom = s_start.AddSeconds(30), ScheduledTo = s_start.AddSeconds(60) };
        (await harness.Scheduler.BulkDeleteAsync(window)).Should().Be(6);
        await harness.RunForAsync(TimeSpan.FromMinutes(2));
        harness.Log.Of("every-5s").Select(r => r.Scheduled).Should().NotContain(t => t >= s_start.AddSeconds(30) && t < s_start.AddSeconds(60));
        var skipped = (await harness.Scheduler.ListAsync(window with { Statuses = [RunStatus.Skipped] })).Items;
        skipped.Should().HaveCount(6).And.OnlyContain(r => r.Error!.Type == "Durable.Scheduling.DeletedByUser");
        harness.Log.Of("every-5s").Should().HaveCount(25 - 6, "12:00:00 to 12:02:00 holds 25 occurrences, 6 of them skipped");

        // By id too: a pending occurrence deleted by id is recorded as skipped.
        var next = (await harness.Scheduler.ListAsync(new RunQuery { Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending] })).Items[0];
        (await harness.Scheduler.DeleteAsync(next.Id)).Should().BeTrue();
        (await harness.Scheduler.GetAsync(next.Id))!.Status.Should().Be(RunStatus.Skipped);
    }

    [Test]
    public async Task ScheduledWorkflow_AcrossBothNewYorkDstDays_FollowsGapAndOverlapRules()
    {
        // Spring forward 2026-03-08 (02:00 EST -> 03:00 EDT) and fall back 2026-11-01 (02:00 EDT -> 01:00 EST).
        var springStart = new DateTimeOffset(2026, 3, 7, 12, 0, 0, TimeSpan.Zero);
        await using (var spring = new SchedulerHarness(springStart, [typeof(NewYorkDst)], o => o.PollInterval = TimeSpan.FromMinutes(10)))
        {
            await spring.StartAsync();
            await spring.RunUntilAsync(springStart.AddDays(2));
            spring.Log.Of("ny-fixed-0130").Select(r => r.Scheduled.UtcDateTime).Should().Equal(
                new DateTime(2026, 3, 8, 6, 30, 0), // 01:30 EST
                new DateTime(2026, 3, 9, 5, 30, 0)); // 01:30 EDT
            spring.Log.Of("ny-interval-h1").Select(r => r.Scheduled.UtcDateTime).Should().Equal(
                new DateTime(2026, 3, 8, 6, 0, 0), new DateTime(2026, 3, 8, 6, 30, 0), // 01:00, 01:30 EST
                new DateTime(2026, 3, 8, 7, 0, 0), // 02:00 and 02:30 do not exist: once, at 03:00 EDT
                new DateTime(2026, 3, 9, 5, 0, 0), new DateTime(2026, 3, 9, 5, 30, 0), new DateTime(2026, 3, 9, 6, 0, 0), new DateTime(2026, 3, 9, 6, 30, 0));
        }

        var fallStart = new DateTimeOffset(2026, 10, 31, 12, 0, 0, TimeSpan.Zero);
        await using var fall = new SchedulerHarness(fallStart, [typeof(NewYorkDst)], o => o.PollInterval = TimeSpan.FromMinutes(10));
        await fall.StartAsync();
        await fall.RunUntilAsync(fallStart.AddDays(2));
        fall.Log.Of("ny-fixed-0130").Select(r => r.Scheduled.UtcDateTime).Should().Equal(
            new DateTime(2026, 11, 1, 5, 30, 0), // 01:30 EDT, first pass only
            new DateTime(2026, 11, 2, 6, 30, 0)); // 01:30 EST
        fall.Log.Of("ny-interval-h1").Select(r => r.Scheduled.UtcDateTime).Should().Equal(
            new DateTime(2026, 11, 1, 5, 0, 0), new DateTime(2026, 11, 1, 5, 30, 0), // 01:00, 01:30 EDT
            new DateTime(2026, 11, 1, 6, 0, 0), new DateTime(2026, 11, 1, 6, 30, 0), // 01:00, 01:30 EST: both passes
            new DateTime(2026, 11, 1, 7, 0, 0), new DateTime(2026, 11, 1, 7, 30, 0), // 02:00, 02:30 EST
            new DateTime(2026, 11, 2, 6, 0, 0), new DateTime(2026, 11, 2, 6, 30, 0), new DateTime(2026, 11, 2, 7, 0, 0), new DateTime(2026, 11, 2, 7, 30, 0));
    }

    [Test]
    public async Task CatchUp_AfterOneHourDowntime_AppliesEachPolicy()
    {
        var store = new InMemorySchedulingStore();
        await using (var before = new SchedulerHarness(s_start, [typeof(CatchUpWorkflows)], store: store))
        {
            await before.StartAsync();
            await before.RunForAsync(TimeSpan.FromMinutes(30));
            before.Log.Of("catchup-all").Should().HaveCount(4, "12:00, 12:10, 12:20 and 12:30");
        }

        // The process was down from 12:30 to 13:35: 12:40 ... 13:30 (6 occurrences) were missed.
        await using var after = new SchedulerHarness(s_start.AddMinutes(95), [typeof(CatchUpWorkflows)], store: store);
        await after.StartAsync();
        await after.RunForAsync(TimeSpan.FromMinutes(1));

        static IEnumerable<int> Minutes(IEnumerable<RunLog.Invocation> runs) => runs.Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Order();
        Minutes(after.Log.Of("catchup-all")).Should().Equal([40, 50, 60, 70, 80, 90], "every missed occurrence runs once, in order");
        after.Log.Of("catchup-active").Should().BeEmpty("missed occurrences are skipped; the next runs at 13:40");
        Minutes(after.Log.Of("catchup-latest")).Should().Equal([90], "one run for the most recent missed occurrence");
        after.Log.Invocations.Should().OnlyContain(r => r.Started == s_start.AddMinutes(95), "caught-up runs start at once");
    }

    [Test]
    public async Task CatchUp_AfterTwoDayDowntime_IsBoundedByWindowAndCap()
    {
        var store = new InMemorySchedulingStore();
        await using (var before = new SchedulerHarness(s_start, [typeof(CatchUpWorkflows)], o => o.LookAhead = TimeSpan.FromSeconds(1), store: store))
        {
            await before.StartAsync();
        }

        var restart = s_start.AddDays(2).AddMinutes(5);
        await using var after = new SchedulerHarness(restart, [typeof(CatchUpWorkflows)], o => o.MaxCatchUpRuns = 100, store: store);
        await after.StartAsync();

        var all = after.Log.Of("catchup-all").OrderBy(r => r.Scheduled).ToList();
        all.Should().HaveCount(100, "the cap keeps the 100 most recent of the 144 occurrences in the 1-day window");
        all[^1].Scheduled.Should().Be(s_start.AddDays(2));
        all[0].Scheduled.Should().Be(s_start.AddDays(2).AddMinutes(-990));
        after.Log.Of("catchup-latest").Should().ContainSingle().Which.Scheduled.Should().Be(s_start.AddDays(2));
        after.Log.Of("catchup-active").Should().BeEmpty();
    }

    [Test]
    public async Task CatchUp_AppliesToOccurrencesCreatedAhead_AfterThreeDaysDown()
    {
        // Occurrences created ahead (a 30-minute look-ahead) before the process went down for three days are missed
        // occurrences like the others: outside the one-day window they do not run, and each policy keeps its count.
        var store = new InMemorySchedulingStore();
        await using (var before = new SchedulerHarness(s_start, [typeof(CatchUpWorkflows)], o => o.LookAhead = TimeSpan.FromMinutes(30), store: store))
        {
            await before.StartAsync();
        }

        (await store.ListAsync(new RunQuery { Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending], PageSize = 1000 }, default)).Items
            .Should().HaveCount(3 * 3, "three schedules, 12:10 to 12:30 created ahead (12:00 ran)");
        var restart = s_start.AddDays(3).AddMinutes(5);
        await using var after = new SchedulerHarness(restart, [typeof(CatchUpWorkflows)], o => o.MaxCatchUpRuns = 100, store: store);
        await after.StartAsync();

        var all = after.Log.Of("catchup-all");
        all.Should().HaveCount(100, "the cap counts every missed occurrence, created ahead or not");
        all.Should().OnlyContain(r => r.Scheduled >= restart.AddDays(-1), "nothing older than the catch-up window runs");
        after.Log.Of("catchup-latest").Should().ContainSingle().Which.Scheduled.Should().Be(s_start.AddDays(3));
        after.Log.Of("catchup-active").Should().BeEmpty("missed occurrences are skipped, whether or not they were created ahead");
        var skipped = await store.ListAsync(new RunQuery { Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Skipped], ScheduledTo = s_start.AddHours(1), PageSize = 1000 }, default);
        skipped.Items.Should().HaveCount(3 * 3).And.OnlyContain(r => r.Error!.Type == "Durable.Scheduling.CatchUpPolicy", "each is recorded, never lost in silence");
    }

    [Test]
    public async Task SameSchedule_InTwoSchedulersOnOneStore_RunsEachOccurrenceOnce()
    {
        var store = new InMemorySchedulingStore();
        await using var first = new SchedulerHarness(s_start, [typeof(EveryFiveSeconds)], store: store);
        await using var second = new SchedulerHarness(s_start, [typeof(EveryFiveSeconds)], store: store);
        await first.StartAsync();
        await second.StartAsync();
        for (int step = 1; step <= 120; step++)
        {
            var until = s_start.AddSeconds(5 * step);
            first.Time.SetUtcNow(until);
            second.Time.SetUtcNow(until);
            await first.SettleAsync();
            await second.SettleAsync();
        }

        var runs = first.Log.Of("every-5s").Concat(second.Log.Of("every-5s")).ToList();
        runs.Should().HaveCount(121, "12:00:00 to 12:10:00 inclusive");
        runs.Select(r => r.Key).Should().OnlyHaveUniqueItems("the store accepts each occurrence key once and a claim is exclusive");
        first.Log.Of("every-5s").Should().NotBeEmpty();
        second.Log.Of("every-5s").Should().NotBeEmpty();
    }

    [Test]
    public async Task ClockJump_Forward_CatchesUpPerPolicy_WithoutStorm()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(CatchUpWorkflows), typeof(EveryFiveSeconds)], o => o.MaxCatchUpRuns = 10);
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromMinutes(5));
        int before = harness.Log.Of("every-5s").Count;

        harness.Time.SetUtcNow(s_start.AddHours(5)); // the wall clock jumps 5 hours ahead
        await harness.RunForAsync(TimeSpan.FromSeconds(1));

        int caughtUp = harness.Log.Of("every-5s").Count - before;
        caughtUp.Should().Be(10 + 1, "the 10 most recent missed ones (the cap applies to the 36 created ahead too), and 17:00:00");
        harness.Log.Of("catchup-active").Should().NotContain(r => r.Scheduled > s_start.AddMinutes(7) && r.Scheduled < s_start.AddHours(5), "missed occurrences are skipped");
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        harness.Log.Of("every-5s").Where(r => r.Scheduled > s_start.AddHours(5)).Should().HaveCount(12, "the schedule resumes normally");
    }

    [Test]
    public async Task ClockJump_Backward_NeitherRepeatsNorFiresEarly()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(EveryFiveSeconds)]);
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromMinutes(10));

        harness.Time.SetUtcNow(s_start.AddMinutes(5)); // the wall clock jumps 5 minutes back
        await harness.RunUntilAsync(s_start.AddMinutes(15));

        var runs = harness.Log.Of("every-5s");
        runs.Select(r => r.Scheduled).Should().OnlyHaveUniqueItems("an occurrence already run is never run again");
        runs.Should().OnlyContain(r => r.Started >= r.Scheduled, "nothing fires before its instant on the (new) wall clock");
        runs.Should().HaveCount(181, "12:00:00 to 12:15:00 inclusive, each once");
    }

    [Test]
    public async Task RealClock_ManyRunsDueNowThroughFewSlots_EachRunsOnce()
    {
        // The real clock's own paths: slots handed out in batches, the loop woken by slots rather than by each new run,
        // and its millisecond look while runs wait. Only the outcome is asserted, never a duration.
        using var host = await RealClockHost.StartAsync<OneTimeWorkflows>(o => o.MaxConcurrency = 4);
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        var log = host.Services.GetRequiredService<RunLog>();
        for (int i = 0; i < 2000; i++)
        {
            await scheduler.ScheduleAsync("send-reminder", TimeProvider.System.GetUtcNow(), new Reminder(i, "x"));
        }

        await RealClockHost.UntilAsync(() => log.Invocations.Count >= 2000);

        await host.StopAsync();
        log.Of("send-reminder").Select(r => ((Reminder)r.Input!).CustomerId).Order().Should().Equal(Enumerable.Range(0, 2000));
    }

    [Test]
    public async Task RealClock_HandlersBlockingTheirThreads_DoNotHoldBackRunsStartedWithThem()
    {
        // More runs than processors, started together as one batch, each blocking its thread until all have started:
        // they can only all start if the runs left are never waiting behind the blocked threads (a work item stays
        // queued for them, so the thread pool adds threads). Were they held back, each handler would give up after 30 s.
        int count = Environment.ProcessorCount + 2;
        var (host, state) = await StartBlockingHostAsync(count);
        using (host)
        {
            var at = TimeProvider.System.GetUtcNow().AddMilliseconds(300); // one instant: claimed together, started together
            await host.Services.GetRequiredService<IScheduler>().ScheduleManyAsync(Enumerable.Range(0, count).Select(_ => new RunRequest("block-until-all-started", at)));
            await RealClockHost.UntilAsync(() => Volatile.Read(ref state.Satisfied) == count);
            await host.StopAsync();
            state.Satisfied.Should().Be(count, "every handler saw all runs started before its bound");
        }
    }

    [Test]
    public async Task RealClock_RunEndedBeforeItsThreadBlocksInAnotherHandler_HasItsOutcomeStored()
    {
        // One more run than processors, started together: the first to start returns at once, and every other blocks
        // its thread until that first run is stored as succeeded. The thread that ran the first one usually takes
        // another next and blocks in it before writing the first's outcome (a batch's thread writes once no run is
        // left to take), while the other threads block too: the loop must write the outcome left queued.
        int count = Environment.ProcessorCount + 1;
        var (host, state) = await StartBlockingHostAsync(count);
        using (host)
        {
            var at = TimeProvider.System.GetUtcNow().AddMilliseconds(300);
            await host.Services.GetRequiredService<IScheduler>().ScheduleManyAsync(Enumerable.Range(0, count).Select(_ => new RunRequest("first-returns-others-wait-for-it", at)));
            await RealClockHost.UntilAsync(() => Volatile.Read(ref state.Satisfied) == count - 1);
            await host.StopAsync();
            state.Satisfied.Should().Be(count - 1, "every blocked handler saw the first run stored as succeeded before its bound");
        }
    }

    [Test]
    public async Task RealClock_StopWhileRunsWaitBehindBlockedHandlers_HandsThemBackPending_WithoutStartingThem()
    {
        // Fifty runs started together, each blocking its thread until the scheduler stops: the threads block in their
        // first run and the rest wait in the batch. Once stopping has begun none of those may start; they go back
        // pending. (A thread may have been entering a run just as stopping began: at most one per thread.)
        const int count = 50;
        var (host, state) = await StartBlockingHostAsync(count);
        using (host)
        {
            var scheduler = host.Services.GetRequiredService<IScheduler>();
            var at = TimeProvider.System.GetUtcNow().AddMilliseconds(300);
            await scheduler.ScheduleManyAsync(Enumerable.Range(0, count).Select(_ => new RunRequest("wait-for-stop", at)));
            // Waited for on this thread: the pool's threads are blocked in handlers, and a continuation would wait for one.
            SpinWait.SpinUntil(() => Volatile.Read(ref state.Started) > 0, TimeSpan.FromSeconds(30)).Should().BeTrue("a run started");
            await host.StopAsync();

            int started = Volatile.Read(ref state.Started), late = Volatile.Read(ref state.StartedAfterStop);
            late.Should().BeLessThanOrEqualTo(ThreadPool.ThreadCount, "no run waiting in the batch starts once stopping has begun");
            var pending = await scheduler.ListAsync(new RunQuery { WorkflowName = "wait-for-stop", Statuses = [RunStatus.Pending] });
            pending.Items.Should().HaveCount(count - started - late, "every run that did not start is handed back pending");
            pending.Items.Should().OnlyContain(r => r.Attempt == 0 && r.StartedAt == null, "a run handed back before its handler began has its claim undone");
            started.Should().BeLessThan(count / 2, "most runs were still waiting in the batch when stopping began");
        }
    }

    private static async Task<(IHost Host, BlockingState State)> StartBlockingHostAsync(int count)
    {
        var state = new BlockingState { Expected = count };
        var host = await RealClockHost.StartAsync<BlockingWorkflows>(o => o.PollInterval = TimeSpan.FromMilliseconds(100), services => services.AddSingleton(state));
        return (host, state);
    }
}
