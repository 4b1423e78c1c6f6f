using Durable.Scheduling.Engine.Maintenance;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine.Maintenance;

/// <summary>
/// The hourly count of pending runs no workflow here defines reads every pending run (seconds on a large durable
/// store): the loop starts it and goes on; it reports when done, and a failure is only logged.
/// </summary>
[TestFixture]
public sealed class OrphanWatchTests
{
    private static readonly DateTimeOffset Now = new(2027, 5, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task StartIfDue_ReturnsBeforeTheCountIsRead_WhichReportsWhenDone_OncePerHour()
    {
        var inner = new InMemorySchedulingStore();
        await inner.InsertAsync([TestRuns.OneTime("removed", Now.AddMinutes(5), null, Now), TestRuns.OneTime("defined", Now.AddMinutes(5), null, Now)], default);
        var store = new FlakyStore(inner);
        var gate = new TaskCompletionSource();
        int lists = 0;
        store.BeforeList = _ =>
        {
            Interlocked.Increment(ref lists);
            return gate.Task;
        };
        var logs = new CapturedLogs();
        var watch = new OrphanWatch(store, new HashSet<string> { "defined" }, logs.CreateLogger("test"));

        watch.StartIfDue(Now, CancellationToken.None); // returns although the store has not answered
        watch.Idle.Should().BeFalse("the count waits for the store");
        watch.StartIfDue(Now.AddHours(2), CancellationToken.None);
        logs.Entries.Should().BeEmpty();

        gate.SetResult();
        await watch.Counting.WaitAsync(TimeSpan.FromSeconds(30));
        watch.Idle.Should().BeTrue();
        lists.Should().Be(1, "a count already running is not started twice");
        logs.Entries.Should().ContainSingle(e => e.Level == LogLevel.Warning && e.Message.Contains("1 pending runs", StringComparison.Ordinal) && e.Message.Contains("removed", StringComparison.Ordinal));

        watch.StartIfDue(Now.AddMinutes(30), CancellationToken.None);
        watch.Counting.IsCompleted.Should().BeTrue("not due again within the hour");
        lists.Should().Be(1);
    }

    [Test]
    public async Task ACountThatFails_IsLogged_AndNeverFaultsTheTaskTheHostWaitsFor()
    {
        var store = new FlakyStore(new InMemorySchedulingStore()) { Down = true };
        var logs = new CapturedLogs();
        var watch = new OrphanWatch(store, new HashSet<string> { "defined" }, logs.CreateLogger("test"));

        watch.StartIfDue(Now, CancellationToken.None);
        await watch.Counting.WaitAsync(TimeSpan.FromSeconds(30)); // would throw if it faulted

        watch.Counting.IsCompletedSuccessfully.Should().BeTrue();
        logs.Entries.Should().ContainSingle(e => e.Event.Id == 23 && e.Level == LogLevel.Warning);
    }

    [Test]
    public async Task ACountInProgress_EndsWhenTheSchedulerStops()
    {
        var store = new FlakyStore(new InMemorySchedulingStore()) { BeforeList = _ => new TaskCompletionSource().Task }; // never answers
        var watch = new OrphanWatch(store, new HashSet<string> { "defined" }, new CapturedLogs().CreateLogger("test"));
        using var stop = new CancellationTokenSource();

        watch.StartIfDue(Now, stop.Token);
        await stop.CancelAsync();

        await watch.Counting.WaitAsync(TimeSpan.FromSeconds(30));
        watch.Counting.IsCompletedSuccessfully.Should().BeTrue();
    }
}
