using System.Collections.Concurrent;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// Scenario E1: however a handler fails (a synchronous throw, a throw after an await, a cancellation that is not the
/// scheduler's, a timeout, retries), and while the store fails under it, no task the scheduler starts is left faulted
/// and unobserved (what <see cref="TaskScheduler.UnobservedTaskException"/> reports once the task is collected).
/// </summary>
[TestFixture]
[NonParallelizable] // the event is process-wide
public sealed class UnobservedExceptionTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task FailingHandlers_AndAFailingStore_LeaveNoTaskFaultedAndUnobserved() =>
        (await UnobservedDuringAsync(RunFailuresAsync)).Should().BeEmpty("every task the scheduler starts is awaited or has its failure handled");

    [Test]
    public async Task HandlersFailingAfterTheirHostStoppedAtItsTimeout_AndWasDisposed_LeaveNoTaskFaultedAndUnobserved()
    {
        string file = Sqlite.SqliteTestFiles.NewFile();
        try
        {
            (await UnobservedDuringAsync(() => FailAfterDisposalAsync(file))).Should()
                .BeEmpty("a handler outliving its host still has its end handled (its store is gone: logged, lease left to expire)");
        }
        finally
        {
            Sqlite.SqliteTestFiles.Delete(file);
        }
    }

    /// <summary>The exceptions of tasks left faulted and unobserved by <paramref name="scenario"/>, once they are collected.</summary>
    private static async Task<IReadOnlyCollection<Exception>> UnobservedDuringAsync(Func<Task> scenario)
    {
        var unobserved = new ConcurrentQueue<Exception>();
        void Record(object? sender, UnobservedTaskExceptionEventArgs e) => unobserved.Enqueue(e.Exception);
        CollectEverything(); // what earlier tests left is reported before this one listens
        TaskScheduler.UnobservedTaskException += Record;
        try
        {
            await scenario(); // in a method of its own, so that nothing of the scheduler stays reachable from here
            CollectEverything();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= Record;
        }

        return unobserved;
    }

    private static async Task FailAfterDisposalAsync(string file)
    {
        var store = new Durable.Scheduling.Sqlite.SqliteSchedulingStore(new Durable.Scheduling.Sqlite.SqliteSchedulingOptions { ConnectionString = $"Data Source={file}" });
        var harness = new SchedulerHarness(s_start, [typeof(StubbornWorkflows)], store: store);
        await harness.StartAsync();
        await harness.Scheduler.ScheduleAsync("stubborn-fails", s_start.AddSeconds(1));
        await harness.Scheduler.ScheduleAsync("stubborn-retries", s_start.AddSeconds(1));
        await harness.Scheduler.ScheduleAsync("stubborn-succeeds", s_start.AddSeconds(1));
        await harness.RunUntilAsync(s_start.AddSeconds(2));
        var activity = harness.Services.GetRequiredService<ISchedulerActivity>();
        activity.RunningHandlers.Should().Be(3);

        await harness.StopAsync(timeout: TimeSpan.FromMilliseconds(200)); // the shutdown timeout passes: they keep running
        await harness.DisposeAsync(); // the store, the logger factory and the scheduler are gone
        harness.Time.Advance(TimeSpan.FromMinutes(11)); // now they end: two fail, one succeeds
        SpinWait.SpinUntil(() => activity.RunningHandlers == 0, TimeSpan.FromSeconds(30)).Should().BeTrue("the handlers returned");
        await Task.Delay(200); // their ends are handled on pool threads after the handlers return
    }

    private static async Task RunFailuresAsync()
    {
        var store = new FlakyStore(new InMemorySchedulingStore());
        var harness = new SchedulerHarness(s_start, [typeof(FailingWorkflows)], o => o.MaxConcurrency = 4, store);
        await harness.StartAsync();
        var at = s_start.AddSeconds(1);
        foreach (string workflow in FailingWorkflows.Names)
        {
            for (int i = 0; i < 5; i++)
            {
                await harness.Scheduler.ScheduleAsync(workflow, at.AddMilliseconds(i));
            }
        }

        await harness.RunForAsync(TimeSpan.FromSeconds(5));
        store.Down = true; // claims, completions, releases and reads all fail for a while
        foreach (string workflow in FailingWorkflows.Names)
        {
            store.Down = false;
            await harness.Scheduler.ScheduleAsync(workflow, harness.Time.GetUtcNow().AddSeconds(1));
            store.Down = true;
        }

        await harness.RunForAsync(TimeSpan.FromMinutes(2));
        store.Down = false;
        await harness.RunForAsync(TimeSpan.FromMinutes(10));
        var runs = await harness.Scheduler.ListAsync(new RunQuery { PageSize = 1000 });
        runs.Items.Should().HaveCount(FailingWorkflows.Names.Length * 6);
        runs.Items.Should().OnlyContain(r => r.Status == RunStatus.Failed, "every handler fails, each in its own way (a timeout too)");
        await harness.StopAsync();
        await harness.DisposeAsync();
    }

    private static void CollectEverything()
    {
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    public sealed class StubbornWorkflows(RunLog log, TimeProvider time)
    {
        [Workflow("stubborn-fails")]
        public async Task Fails()
        {
            await log.ParkAsync(TimeSpan.FromMinutes(10), time, CancellationToken.None); // deaf to stopping
            throw new InvalidOperationException("failed after its host was disposed");
        }

        [Workflow("stubborn-retries", MaxAttempts = 3)]
        public async Task Retries()
        {
            await log.ParkAsync(TimeSpan.FromMinutes(10), time, CancellationToken.None);
            throw new InvalidOperationException("failed after its host was disposed, with attempts left");
        }

        [Workflow("stubborn-succeeds")]
        public Task Succeeds() => log.ParkAsync(TimeSpan.FromMinutes(10), time, CancellationToken.None);
    }

    public sealed class FailingWorkflows(RunLog log, TimeProvider time)
    {
        public static readonly string[] Names = ["throws", "throws-after-await", "foreign-cancellation", "times-out", "retries", "value-task-throws"];

        [Workflow("throws")]
        public static void Throws() => throw new InvalidOperationException("thrown at once");

        [Workflow("throws-after-await")]
        public static async Task ThrowsAfterAwait()
        {
            await Task.Yield();
            throw new InvalidOperationException("thrown after an await");
        }

        [Workflow("foreign-cancellation")]
        public static void ForeignCancellation()
        {
            using var source = new CancellationTokenSource();
            source.Cancel();
            source.Token.ThrowIfCancellationRequested(); // not the scheduler's token: a failure like any other
        }

        [Workflow("times-out", TimeoutSeconds = 1)]
        public Task TimesOut(CancellationToken cancellationToken) => log.ParkAsync(TimeSpan.FromDays(1), time, cancellationToken);

        [Workflow("retries", MaxAttempts = 3, RetryDelaySeconds = 1)]
        public static async Task Retries(ScheduledRunContext run)
        {
            await Task.Yield();
            throw new InvalidOperationException("attempt " + run.Attempt);
        }

        [Workflow("value-task-throws")]
        public static async ValueTask ValueTaskThrows()
        {
            await Task.Yield();
            throw new NotSupportedException("a ValueTask that faults");
        }
    }
}
