using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// A handler that ignores its token past its timeout (scenario E2): its run is recorded as timed out and abandoned once
/// <see cref="SchedulingOptions.TimeoutGrace"/> has passed since the token was cancelled, not left running for as long as
/// the handler hangs; it keeps its concurrency slot (and health says Degraded) until the handler returns, and what the
/// handler does then is not recorded. A handler that returns within the grace is recorded by how it ends.
/// </summary>
[TestFixture]
public sealed class TimeoutGraceTests
{
    private static readonly DateTimeOffset s_start = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task AHandlerIgnoringItsTimeout_IsAbandonedWhenTheGraceEnds_RecordedFailedOnce_AndItsLateReturnChangesNothing()
    {
        var logs = new CapturedLogs();
        await using var harness = new SchedulerHarness(s_start, [typeof(StubbornWorkflows)], services: s => s.AddSingleton<ILoggerProvider>(logs));
        await harness.StartAsync();
        var id = (await harness.Scheduler.ScheduleAsync("ignores-timeout", s_start)).Id;

        await harness.RunUntilAsync(s_start.AddSeconds(14)); // timeout 5 s, grace 10 s (the default)
        (await harness.Scheduler.GetAsync(id))!.Status.Should().Be(RunStatus.Running, "the grace has not ended");

        await harness.RunUntilAsync(s_start.AddSeconds(16));
        var abandoned = await harness.Scheduler.GetAsync(id);
        abandoned!.Status.Should().Be(RunStatus.Failed);
        abandoned.Error!.Type.Should().Be("System.TimeoutException");
        abandoned.Error.Message.Should().Contain("abandoned");
        abandoned.CompletedAt.Should().Be(s_start.AddSeconds(15));
        abandoned.Attempt.Should().Be(1);
        logs.Entries.Should().Contain(e => e.Event.Id == 27 && e.Level == LogLevel.Error);
        var activity = harness.Services.GetRequiredService<ISchedulerActivity>();
        activity.RunningHandlers.Should().Be(1, "the handler still runs");

        // The handler returns normally ten minutes later: no second attempt was made meanwhile (it has three), and its
        // return records nothing over the abandonment, nor reports a lost lease.
        await harness.RunForAsync(TimeSpan.FromMinutes(11));
        activity.RunningHandlers.Should().Be(0);
        harness.Log.Of("ignores-timeout").Should().ContainSingle();
        (await harness.Scheduler.GetAsync(id)).Should().BeEquivalentTo(abandoned);
        logs.Entries.Should().NotContain(e => e.Event.Id == 6, "no lease was lost");
    }

    [Test]
    public async Task AnAbandonedRun_KeepsItsConcurrencySlot_UntilItsHandlerReturns()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(StubbornWorkflows)], o => o.MaxConcurrency = 1);
        await harness.StartAsync();
        var hung = (await harness.Scheduler.ScheduleAsync("ignores-timeout", s_start)).Id;
        var next = (await harness.Scheduler.ScheduleAsync("quick", s_start.AddSeconds(20))).Id;

        await harness.RunUntilAsync(s_start.AddMinutes(5));
        (await harness.Scheduler.GetAsync(hung))!.Status.Should().Be(RunStatus.Failed, "abandoned at 15 s");
        (await harness.Scheduler.GetAsync(next))!.Status.Should().Be(RunStatus.Pending, "the one slot is still taken by the hung handler");

        await harness.RunUntilAsync(s_start.AddMinutes(11)); // the hung handler returns at 10 min
        (await harness.Scheduler.GetAsync(next))!.Status.Should().Be(RunStatus.Succeeded);
    }

    [Test]
    public async Task AHandlerReturningWithinTheGrace_IsRecordedByHowItEnds()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(StubbornWorkflows)], o => o.TimeoutGrace = TimeSpan.FromSeconds(30));
        await harness.StartAsync();
        var late = (await harness.Scheduler.ScheduleAsync("returns-late", s_start)).Id;
        var givesUp = (await harness.Scheduler.ScheduleAsync("gives-up-late", s_start)).Id;
        await harness.RunForAsync(TimeSpan.FromMinutes(1));

        (await harness.Scheduler.GetAsync(late))!.Status.Should().Be(RunStatus.Succeeded, "it returned normally 20 s after its timeout, within the grace");
        var timedOut = await harness.Scheduler.GetAsync(givesUp);
        timedOut!.Status.Should().Be(RunStatus.Failed);
        timedOut.Error!.Type.Should().Be("System.TimeoutException");
        timedOut.Error.Message.Should().NotContain("abandoned");
        timedOut.CompletedAt.Should().Be(s_start.AddSeconds(25));
    }

    [Test]
    public async Task AZeroGrace_AbandonsAtTheTimeout()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(StubbornWorkflows)], o => o.TimeoutGrace = TimeSpan.Zero);
        await harness.StartAsync();
        var id = (await harness.Scheduler.ScheduleAsync("ignores-timeout", s_start)).Id;
        await harness.RunUntilAsync(s_start.AddSeconds(6));
        var run = await harness.Scheduler.GetAsync(id);
        run!.Status.Should().Be(RunStatus.Failed);
        run.CompletedAt.Should().Be(s_start.AddSeconds(5));
        await harness.RunForAsync(TimeSpan.FromMinutes(11));
    }

    [TestCase(-1)]
    [TestCase(86_401)]
    public void ATimeoutGraceOutOfRange_IsRefusedAtStartUp(int seconds)
    {
        var services = new ServiceCollection();
        services.AddScheduling(o => o.TimeoutGrace = TimeSpan.FromSeconds(seconds));
        using var provider = services.BuildServiceProvider();
        var act = () => provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<SchedulingOptions>>().Value;
        act.Should().Throw<Microsoft.Extensions.Options.OptionsValidationException>().WithMessage("*TimeoutGrace*");
    }

    /// <summary>Handlers that take their time whatever their token says, on the scheduler's clock.</summary>
    public sealed class StubbornWorkflows(RunLog log, TimeProvider time)
    {
        [Workflow("ignores-timeout", TimeoutSeconds = 5, MaxAttempts = 3)]
        public async Task IgnoresTimeout(ScheduledRunContext run)
        {
            log.Record(run);
            await log.ParkAsync(TimeSpan.FromMinutes(10), time, CancellationToken.None);
        }

        [Workflow("returns-late", TimeoutSeconds = 5)]
        public async Task ReturnsLate(ScheduledRunContext run)
        {
            log.Record(run);
            await log.ParkAsync(TimeSpan.FromSeconds(25), time, CancellationToken.None);
        }

        [Workflow("gives-up-late", TimeoutSeconds = 5)]
        public async Task GivesUpLate(ScheduledRunContext run, CancellationToken cancellationToken)
        {
            log.Record(run);
            await log.ParkAsync(TimeSpan.FromSeconds(25), time, CancellationToken.None);
            cancellationToken.ThrowIfCancellationRequested();
        }

        [Workflow("quick")]
        public void Quick(ScheduledRunContext run) => log.Record(run);
    }
}
