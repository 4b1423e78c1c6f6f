using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// Stopping with a handler that ignores its token (scenario E4): stop returns once the host's shutdown timeout has
/// passed, without waiting for the handler; the run is released at once (another instance runs it again without
/// waiting for its lease), and the stubborn handler's late outcome changes nothing.
/// </summary>
[TestFixture]
public sealed class ShutdownTimeoutTests
{
    private static readonly DateTimeOffset s_start = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task Stop_WithAHandlerIgnoringItsToken_ReturnsAtTheTimeout_ReleasingItsRun_WhoseLateOutcomeChangesNothing()
    {
        var store = new InMemorySchedulingStore();
        await using var before = new SchedulerHarness(s_start, [typeof(StubbornWorkflows)], store: store);
        await before.StartAsync();
        var id = (await before.Scheduler.ScheduleAsync("ignores-stop", s_start.AddSeconds(1))).Id;
        await before.RunUntilAsync(s_start.AddSeconds(2));
        before.Log.Of("ignores-stop").Should().ContainSingle();

        await before.StopAsync(timeout: TimeSpan.FromMilliseconds(200)); // the host's shutdown timeout
        var activity = before.Services.GetRequiredService<ISchedulerActivity>();
        activity.RunningHandlers.Should().Be(1, "stop returned while the handler, ignoring its token, still runs");
        var released = await store.GetAsync(id, default);
        released!.Status.Should().Be(RunStatus.Pending, "released when the timeout passed, not left to its lease");
        released.Attempt.Should().Be(1, "its attempt began");

        // Another instance on the same store runs it again at its start, long before the lease would have expired.
        await using var after = new SchedulerHarness(s_start.AddSeconds(3), [typeof(StubbornWorkflows)], store: store);
        await after.StartAsync();
        after.Log.Of("ignores-stop").Should().ContainSingle().Which.Attempt.Should().Be(2);

        // The stubborn handler returns at last: its lease is gone, so its success is not recorded over the new attempt.
        before.Time.Advance(TimeSpan.FromMinutes(11));
        SpinWait.SpinUntil(() => activity.RunningHandlers == 0, TimeSpan.FromSeconds(30)).Should().BeTrue("the first handler returned");
        var run = await store.GetAsync(id, default);
        run!.Status.Should().Be(RunStatus.Running, "the second attempt still runs; the first one's outcome counted for nothing");
        run.Attempt.Should().Be(2);

        await after.StopAsync(timeout: TimeSpan.FromMilliseconds(200));
        after.Time.Advance(TimeSpan.FromMinutes(11));
    }

    public sealed class StubbornWorkflows(RunLog log, TimeProvider time)
    {
        [Workflow("ignores-stop")]
        public async Task IgnoresStop(ScheduledRunContext run)
        {
            log.Record(run);
            await log.ParkAsync(TimeSpan.FromMinutes(10), time, CancellationToken.None); // deaf to stopping
        }
    }
}
