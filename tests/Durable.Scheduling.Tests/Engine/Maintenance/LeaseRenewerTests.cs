using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Engine.Maintenance;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine.Maintenance;

/// <summary>
/// Leases of runs executing here are renewed every third of the lease. A run stays listed as executing until the loop
/// sees its outcome stored (up to a poll for a one-time run), so a renewal can meet a run whose outcome is already
/// written: that is no lost lease. One whose handler still runs, and whose lease is gone, is.
/// </summary>
[TestFixture]
public sealed class LeaseRenewerTests
{
    private static readonly DateTimeOffset Now = new(2027, 5, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Test]
    public async Task ARunWhoseHandlerReturned_AndWhoseOutcomeIsStored_IsNotRenewed_NorReportedLost()
    {
        var (store, tracker, execution) = await ExecutingAsync();
        execution.EndHandler();
        (await store.CompleteAsync([new RunCompletion(execution.Lease.Run.Id, execution.Lease.Token, RunStatus.Succeeded, Now, null)], default))
            .Should().Equal(true);
        var logs = new CapturedLogs();

        await new LeaseRenewer(store, tracker, Lease, logs.CreateLogger("test")).RenewIfDueAsync(Now.AddSeconds(11), default);

        logs.Entries.Should().NotContain(e => e.Event.Id == 6, "the run ended well; its lease was given up, not lost");
        (await store.GetAsync(execution.Lease.Run.Id, default))!.Status.Should().Be(RunStatus.Succeeded);
    }

    [Test]
    public async Task ARunWhoseHandlerStillRuns_AndWhoseLeaseIsGone_IsReportedLost()
    {
        var (store, tracker, execution) = await ExecutingAsync();
        (await store.ReleaseAsync(execution.Lease.Run.Id, execution.Lease.Token, Now, null, default)).Should().BeTrue(); // taken away
        var logs = new CapturedLogs();

        await new LeaseRenewer(store, tracker, Lease, logs.CreateLogger("test")).RenewIfDueAsync(Now.AddSeconds(11), default);

        logs.Entries.Should().ContainSingle(e => e.Event.Id == 6 && e.Level == LogLevel.Warning && e.Message.Contains(execution.Lease.Run.Id.ToString(), StringComparison.Ordinal));
    }

    [Test]
    public async Task ARunWhoseHandlerStillRuns_IsRenewed_AndNothingIsLogged()
    {
        var (store, tracker, execution) = await ExecutingAsync();
        var logs = new CapturedLogs();

        await new LeaseRenewer(store, tracker, Lease, logs.CreateLogger("test")).RenewIfDueAsync(Now.AddSeconds(25), default);

        logs.Entries.Should().BeEmpty();
        (await store.GetExpiredLeasesAsync(Now.AddSeconds(40), 10, default)).Should().BeEmpty("the lease now runs to 55 s");
        (await store.GetExpiredLeasesAsync(Now.AddSeconds(56), 10, default)).Should().ContainSingle();
    }

    private static async Task<(InMemorySchedulingStore Store, ExecutionTracker Tracker, RunExecution Execution)> ExecutingAsync()
    {
        var store = new InMemorySchedulingStore();
        var run = (await store.InsertAsync([TestRuns.OneTime("work", Now, null, Now)], default))[0].Run;
        var lease = (await store.ClaimAsync([run.Id], Now, Lease, "here", default)).Should().ContainSingle().Subject;
        var tracker = new ExecutionTracker(new WakeSignal(TimeProvider.System), CancellationToken.None);
        return (store, tracker, tracker.Start(lease, null));
    }
}
