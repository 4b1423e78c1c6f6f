using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>The store becoming unreachable never stops the scheduler; when it returns, nothing is lost.</summary>
[TestFixture]
public sealed class StoreFaultTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task StoreDownAtStartUp_SchedulerKeepsRetrying_ThenCatchesUpPerPolicy()
    {
        var store = new FlakyStore(new InMemorySchedulingStore()) { Down = true };
        await using var harness = new SchedulerHarness(s_start, [typeof(CatchUpWorkflows)], store: store);
        await harness.StartAsync(); // does not throw: the host starts without its store
        await harness.RunForAsync(TimeSpan.FromMinutes(25));
        harness.Log.Invocations.Should().BeEmpty();
        store.Failures.Should().BeGreaterThan(10, "the scheduler kept retrying");

        store.Down = false;
        await harness.RunForAsync(TimeSpan.FromMinutes(2));
        harness.Log.Of("catchup-all").Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Order().Should().Equal(0, 10, 20);
        harness.Log.Of("catchup-latest").Select(r => (int)(r.Scheduled - s_start).TotalMinutes).Should().Equal(20);
        harness.Log.Of("catchup-active").Should().BeEmpty();
    }

    [Test]
    public async Task StoreDownForAnHour_RetriesBackOffExponentially_Capped_AndRecoverAtOnceWhenItReturns()
    {
        // Poll every second: without back-off, an hour's outage is 3,600 failed passes and as many error logs.
        var logs = new CapturedLogs();
        var store = new FlakyStore(new InMemorySchedulingStore()) { Down = true };
        await using var harness = new SchedulerHarness(
            s_start,
            [typeof(EveryFiveSeconds)],
            o => o.PollInterval = TimeSpan.FromSeconds(1),
            store,
            s => s.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs));
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromHours(1));
        int errors = logs.Entries.Count(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Error);
        errors.Should().BeInRange(55, 75, "1, 2, 4 ... 32 s, then once a minute (the cap) for the rest of the hour");

        store.Down = false;
        await harness.RunForAsync(TimeSpan.FromMinutes(1.5));
        harness.Log.Of("every-5s").Should().NotBeEmpty("the scheduler carries on once the store is back, within a back-off");
    }

    [Test]
    public async Task AFeedThatFails_BacksOffAlone_WhileRunsLoadedBeforeStartOnTime_AndHealthSaysSoUntilAFeedSucceeds()
    {
        // The whole loop waited out the back-off after a failed feed: a run loaded before, due a moment after, started
        // only when the back-off ended.
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store,
            s => s.AddHealthChecks().AddScheduling());
        await harness.StartAsync();
        await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(12), new Reminder(1, "a"));
        await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(14), new Reminder(2, "b"));
        await harness.RunUntilAsync(s_start.AddSeconds(9)); // the feed at 5 s loaded both (they fall within two polls)

        int failing = 2; // the feeds at 10 s and after its back-off (15 s) fail
        store.BeforeDueRead = () => failing-- > 0 ? Task.FromException(new IOException("The database is unreachable (injected fault).")) : Task.CompletedTask;
        var health = harness.Services.GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>();
        await harness.RunUntilAsync(s_start.AddSeconds(17));
        harness.Log.Of("send-reminder").Select(r => r.Started).Should().Equal([s_start.AddSeconds(12), s_start.AddSeconds(14)], "runs loaded before the failures start at their instants");
        var report = await health.CheckHealthAsync();
        report.Status.Should().Be(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, "feeds are failing: {0}", report.Entries.Values.Single().Description);
        report.Entries.Values.Single().Description.Should().Contain("unreachable");

        await harness.RunUntilAsync(s_start.AddSeconds(40)); // the next feed, after a back-off of two polls, succeeds
        (await health.CheckHealthAsync()).Status.Should().Be(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy);
        var late = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(45), new Reminder(3, "c"));
        await harness.RunUntilAsync(s_start.AddSeconds(46));
        harness.Log.Of("send-reminder").Select(r => r.RunId).Should().Contain(late.Id, "feeding goes on once the store answers");
    }

    [Test]
    public async Task StoreDropsMidRun_CompletionIsRetriedByLeaseExpiry_AndRunCompletesOnce()
    {
        var inner = new InMemorySchedulingStore();
        var store = new FlakyStore(inner);
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => o.LeaseDuration = TimeSpan.FromMinutes(1), store: store);
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync("hangs", s_start.AddSeconds(10));
        await harness.RunForAsync(TimeSpan.FromSeconds(11)); // running (parked) now
        store.Down = true;
        await harness.RunForAsync(TimeSpan.FromSeconds(5)); // its 5 s timeout fires; recording the outcome fails
        store.Down = false;
        await harness.RunForAsync(TimeSpan.FromMinutes(3)); // the lease expires; the run is claimed again

        var stored = await inner.GetAsync(run.Id, default);
        stored!.Status.Should().Be(RunStatus.Failed);
        stored.Attempt.Should().Be(2, "the first attempt's outcome was lost with the store, so the run was taken over");
        harness.Log.Of("hangs").Should().HaveCount(2);
    }

    [Test]
    public async Task PassesFailingAfterTheirInsert_TheNextPassCreatesAndCountsEachOccurrenceOnce()
    {
        // A pass that fails after inserting its runs (advancing the watermarks fails) is redone whole by the next: what
        // the failed pass had gathered must not be carried into it (its runs, or counted again on the schedule).
        var inner = new InMemorySchedulingStore();
        var store = new FlakyStore(inner) { FailWatermarks = 3 };
        await using var harness = new SchedulerHarness(s_start, [typeof(EveryFiveSeconds)], o => o.PollInterval = TimeSpan.FromSeconds(1), store);
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        store.FailWatermarks.Should().Be(0, "three passes failed after their insert");

        var runs = await inner.ListAsync(new RunQuery { ScheduleId = "every-5s", PageSize = 1000 }, default);
        runs.Items.Should().OnlyHaveUniqueItems(r => r.ScheduledTime);
        runs.Items.Should().HaveCountGreaterThan(12, "a minute of runs every five seconds, and those created ahead");
        var schedule = await inner.GetScheduleAsync("every-5s", default);
        harness.Log.Of("every-5s").Select(r => r.Scheduled).Should().OnlyHaveUniqueItems();
        schedule!.Counters.Runs.Should().Be(harness.Log.Of("every-5s").Count, "each run started is counted once");
        schedule.Counters.Runs.Should().Be(runs.Items.Count(r => r.Attempt > 0));
    }

    [Test]
    public async Task AFailureRecordingASkip_LosesNeitherTheSkippedOccurrence_NorTheRunsAdmittedWithIt()
    {
        // Recording an occurrence as skipped failed, in the pass that had also admitted another schedule's occurrence:
        // that occurrence kept its reserved slot and was never offered again, and the skipped one was never recorded.
        var inner = new InMemorySchedulingStore();
        var store = new FlakyStore(inner);
        await using var harness = new SchedulerHarness(s_start, [typeof(Durable.Scheduling.Tests.Schedules.ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(1), store);
        await harness.StartAsync();
        var schedules = harness.Scheduler.Schedules;
        await schedules.CreateAsync(new ScheduleDefinition { Id = "slow", WorkflowName = "slow-tick", Spec = ScheduleSpec.FromInterval("10s"), Overlap = OverlapPolicy.Skip });
        await schedules.CreateAsync(new ScheduleDefinition { Id = "quick", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s"), Overlap = OverlapPolicy.Skip });
        await harness.RunUntilAsync(s_start.AddSeconds(19.9)); // slow's run at 10 s lasts until 35 s

        store.FailSkips = 1; // the call that records slow's occurrence at 20 s as skipped
        await harness.RunUntilAsync(s_start.AddSeconds(30.5));

        store.FailSkips.Should().Be(0);
        harness.Log.OfSchedule("quick").Select(r => (int)(r.Scheduled - s_start).TotalSeconds).Should().Equal([10, 20, 30], "quick's occurrence at 20 s runs, late, after the back-off");
        var skipped = await inner.ListAsync(new RunQuery { ScheduleId = "slow", Statuses = [RunStatus.Skipped] }, default);
        skipped.Items.Select(r => (int)(r.ScheduledTime - s_start).TotalSeconds).Should().Equal(20, 30);
    }
}
