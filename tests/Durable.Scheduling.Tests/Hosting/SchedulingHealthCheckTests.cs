using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Hosting;

/// <summary>The scheduler's health check, through the host's own <see cref="HealthCheckService"/>, on a fake clock.</summary>
[TestFixture]
public sealed class SchedulingHealthCheckTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static SchedulerHarness NewHarness(FlakyStore? store = null, Action<SchedulingOptions>? configure = null, Action<IHealthChecksBuilder>? checks = null) =>
        new(s_start, [typeof(HealthWorkflows)], configure, store, s => (checks ?? (c => c.AddScheduling()))(s.AddHealthChecks()));

    private static async Task<HealthReportEntry> CheckAsync(SchedulerHarness harness)
    {
        var report = await harness.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();
        return report.Entries[SchedulingHealthChecksBuilderExtensions.DefaultName];
    }

    [Test]
    public async Task UnhealthyBeforeStart_HealthyRunning_UnhealthyOnceStopped()
    {
        await using var harness = NewHarness();
        (await CheckAsync(harness)).Status.Should().Be(HealthStatus.Unhealthy, "the scheduler has not started");

        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromMinutes(2));
        var running = await CheckAsync(harness);
        running.Status.Should().Be(HealthStatus.Healthy, running.Description);
        running.Data["failed_passes_in_a_row"].Should().Be(0);
        running.Data["last_pass_ended"].Should().Be(harness.Time.GetUtcNow().ToString("O"), "the loop ended a pass at the last instant it was woken");

        await harness.StopAsync();
        var stopped = await CheckAsync(harness);
        stopped.Status.Should().Be(HealthStatus.Unhealthy);
        stopped.Description.Should().Contain("stopped");
    }

    [Test]
    public async Task StoreDown_UnhealthyNamingTheCause_HealthyAgainFromTheFirstPassThatSucceeds()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = NewHarness(store);
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        (await CheckAsync(harness)).Status.Should().Be(HealthStatus.Healthy);

        store.Down = true;
        await harness.RunForAsync(TimeSpan.FromMinutes(5));
        var down = await CheckAsync(harness);
        down.Status.Should().Be(HealthStatus.Unhealthy);
        down.Exception.Should().BeOfType<IOException>();
        down.Description.Should().Contain("IOException").And.Contain("injected fault");
        ((int)down.Data["failed_passes_in_a_row"]).Should().BeGreaterThan(1);

        store.Down = false;
        await harness.RunForAsync(TimeSpan.FromMinutes(2)); // the next retry (a back-off of at most a minute) succeeds
        var back = await CheckAsync(harness);
        back.Status.Should().Be(HealthStatus.Healthy, back.Description);
        back.Exception.Should().BeNull();
    }

    [Test]
    public async Task AHandlerIgnoringItsTimeout_Degraded_UntilItReturns()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        await harness.Scheduler.ScheduleAsync("ignores-timeout", s_start.AddSeconds(1));
        await harness.RunForAsync(TimeSpan.FromSeconds(4));
        (await CheckAsync(harness)).Status.Should().Be(HealthStatus.Healthy, "its 5 s timeout has not fired");

        await harness.RunForAsync(TimeSpan.FromMinutes(2)); // past its timeout, and past a feed that looks
        var overdue = await CheckAsync(harness);
        overdue.Status.Should().Be(HealthStatus.Degraded);
        overdue.Data["overdue_handlers"].Should().Be(1);
        overdue.Data["running_handlers"].Should().Be(1);

        await harness.RunForAsync(TimeSpan.FromMinutes(10)); // it returns after 10 minutes
        var ended = await CheckAsync(harness);
        ended.Status.Should().Be(HealthStatus.Healthy, ended.Description);
        ended.Data["overdue_handlers"].Should().Be(0);
    }

    [Test]
    public async Task AStoreCallThatHangs_UnhealthyOnceTenPollsPass_HealthyWhenItAnswers()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = NewHarness(store); // polls every minute
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        var hang = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.BeforeDueRead = () =>
        {
            entered.TrySetResult();
            return hang.Task;
        };
        harness.Time.Advance(TimeSpan.FromMinutes(1)); // the next feed starts, and waits on the store
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        harness.Time.Advance(TimeSpan.FromMinutes(9));
        (await CheckAsync(harness)).Status.Should().Be(HealthStatus.Healthy, "nine minutes is within ten poll intervals");

        harness.Time.Advance(TimeSpan.FromMinutes(2));
        var stuck = await CheckAsync(harness);
        stuck.Status.Should().Be(HealthStatus.Unhealthy);
        stuck.Description.Should().Contain("has not ended a pass");

        store.BeforeDueRead = null;
        hang.SetResult();
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        (await CheckAsync(harness)).Status.Should().Be(HealthStatus.Healthy);
    }

    [Test]
    public async Task AProcessExecutingNoRuns_HealthyWhileItsStoreAnswers()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = NewHarness(store, o => o.ExecuteRuns = false);
        await harness.StartAsync();
        var up = await CheckAsync(harness);
        up.Status.Should().Be(HealthStatus.Healthy);
        up.Description.Should().Contain("executes no runs");

        store.Down = true;
        var down = await CheckAsync(harness);
        down.Status.Should().Be(HealthStatus.Unhealthy);
        down.Exception.Should().BeOfType<IOException>();
    }

    [Test]
    public async Task TheRegistrationsFailureStatusAndName_AreUsed()
    {
        await using var harness = NewHarness(checks: c => c.AddScheduling("scheduler", HealthStatus.Degraded, ["ready"]));
        var report = await harness.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(r => r.Tags.Contains("ready"));
        report.Entries.Keys.Should().Equal("scheduler");
        report.Entries["scheduler"].Status.Should().Be(HealthStatus.Degraded, "not started, reported with the registration's failure status");
    }

    [Test]
    public async Task WithoutAddScheduling_TheCheckSaysSo()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddHealthChecks().AddScheduling();
        await using var provider = services.BuildServiceProvider();
        var entry = (await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync()).Entries[SchedulingHealthChecksBuilderExtensions.DefaultName];
        entry.Status.Should().Be(HealthStatus.Unhealthy);
        entry.Description.Should().Contain("AddScheduling");
    }

    /// <summary>A handler that parks ten minutes of the scheduler's clock whatever its token says.</summary>
    public sealed class HealthWorkflows(RunLog log, TimeProvider time)
    {
        [Workflow("ignores-timeout", TimeoutSeconds = 5)]
        public async Task IgnoresTimeout(ScheduledRunContext run)
        {
            log.Record(run);
            await log.ParkAsync(TimeSpan.FromMinutes(10), time, CancellationToken.None);
        }
    }
}
