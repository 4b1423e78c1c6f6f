namespace Durable.Scheduling.Tests.Testing;

#pragma warning disable CA1822 // workflow methods are instance methods on purpose: they are resolved from DI

public sealed record Reminder(int CustomerId, string Text);

/// <summary>A recurring schedule every five seconds.</summary>
public sealed class EveryFiveSeconds(RunLog log)
{
    [Scheduled("*/5 * * * * *", Name = "every-5s")]
    public void Tick(ScheduledRunContext run) => log.Record(run);
}

public sealed class EveryMinute(RunLog log)
{
    [Scheduled("0 * * * * *", Name = "every-minute")]
    public void Tick(ScheduledRunContext run) => log.Record(run);
}

/// <summary>A fixed New York time inside the spring-forward gap (02:30 does not exist that day).</summary>
public sealed class NewYorkGap(RunLog log)
{
    [Scheduled("0 30 2 * * *", TimeZone = "America/New_York", Name = "ny-fixed-0230")]
    public void Fixed(ScheduledRunContext run) => log.Record(run);
}

/// <summary>New York schedules around DST: a fixed 01:30 (once per day) and every 30 minutes in hour 1 (interval).</summary>
public sealed class NewYorkDst(RunLog log)
{
    [Scheduled("0 30 1 * * *", TimeZone = "America/New_York", Name = "ny-fixed-0130")]
    public Task Fixed(ScheduledRunContext run)
    {
        log.Record(run);
        return Task.CompletedTask;
    }

    [Scheduled("*/30 1-2 * * *", TimeZone = "America/New_York", Name = "ny-interval-h1")]
    public ValueTask Interval(ScheduledRunContext run)
    {
        log.Record(run);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Three schedules every 10 minutes, one per catch-up policy.</summary>
public sealed class CatchUpWorkflows(RunLog log)
{
    [Scheduled("0 */10 * * * *", Name = "catchup-all", CatchUp = CatchUpPolicy.ExactlyOncePerInterval)]
    public void All(ScheduledRunContext run) => log.Record(run);

    [Scheduled("0 */10 * * * *", Name = "catchup-active", CatchUp = CatchUpPolicy.ExactlyOncePerIntervalWhenActive)]
    public void WhenActive(ScheduledRunContext run) => log.Record(run);

    [Scheduled("0 */10 * * * *", Name = "catchup-latest", CatchUp = CatchUpPolicy.Latest)]
    public void Latest(ScheduledRunContext run) => log.Record(run);
}

/// <summary>Schedules every 10 seconds whose handler takes 24 seconds, one per overlap policy.</summary>
public sealed class OverlapWorkflows(RunLog log, TimeProvider time)
{
    [Scheduled("*/10 * * * * *", Name = "overlap-allowall", Overlap = OverlapPolicy.AllowAll)]
    public Task AllowAll(ScheduledRunContext run, CancellationToken ct) => Slow(run, ct);

    [Scheduled("*/10 * * * * *", Name = "overlap-skip", Overlap = OverlapPolicy.Skip)]
    public Task Skip(ScheduledRunContext run, CancellationToken ct) => Slow(run, ct);

    [Scheduled("*/10 * * * * *", Name = "overlap-bufferone", Overlap = OverlapPolicy.BufferOne)]
    public Task BufferOne(ScheduledRunContext run, CancellationToken ct) => Slow(run, ct);

    [Scheduled("*/10 * * * * *", Name = "overlap-bufferall", Overlap = OverlapPolicy.BufferAll)]
    public Task BufferAll(ScheduledRunContext run, CancellationToken ct) => Slow(run, ct);

    [Scheduled("*/10 * * * * *", Name = "overlap-cancelother", Overlap = OverlapPolicy.CancelOther)]
    public Task CancelOther(ScheduledRunContext run, CancellationToken ct) => Slow(run, ct);

    private async Task Slow(ScheduledRunContext run, CancellationToken ct)
    {
        log.Record(run);
        await log.ParkAsync(TimeSpan.FromSeconds(24), time, ct);
    }
}

/// <summary>An input no workflow here takes.</summary>
public sealed record Invoice(int Number, decimal Amount);

/// <summary>Workflows run by one-time runs only.</summary>
public sealed class OneTimeWorkflows(RunLog log, TimeProvider time)
{
    [Workflow("send-reminder")]
    public Task Send(Reminder input, ScheduledRunContext run, CancellationToken ct)
    {
        log.Record(run, input);
        return Task.CompletedTask;
    }

    [Workflow]
    public static void NoInput()
    {
    }

    [Workflow("takes-object")]
    public static void TakesObject(object payload)
    {
    }

    [Workflow("always-fails", MaxAttempts = 3, RetryDelaySeconds = 10)]
    public void AlwaysFails(ScheduledRunContext run)
    {
        log.Record(run);
        throw new InvalidOperationException("boom " + run.Attempt);
    }

    [Workflow("fails-once", MaxAttempts = 3, RetryDelaySeconds = 10)]
    public void FailsOnce(ScheduledRunContext run)
    {
        log.Record(run);
        if (run.Attempt == 1)
        {
            throw new InvalidOperationException("first attempt fails");
        }
    }

    [Workflow("hangs", TimeoutSeconds = 5)]
    public async Task Hangs(ScheduledRunContext run, CancellationToken ct)
    {
        log.Record(run);
        await log.ParkAsync(TimeSpan.FromDays(1), time, ct);
    }

    [Workflow("slow")]
    public async Task Slow(ScheduledRunContext run, CancellationToken ct)
    {
        log.Record(run);
        await log.ParkAsync(TimeSpan.FromMinutes(10), time, ct);
    }
}

/// <summary>Misconfigured workflows: start-up must list every one of them.</summary>
public sealed class BrokenWorkflows
{
    [Scheduled("61 * * * *", Name = "bad-cron")]
    public void BadCron()
    {
    }

    [Scheduled("* * * * *", Name = "bad-zone", TimeZone = "Mars/Olympus_Mons")]
    public void BadZone()
    {
    }

    [Workflow("two-inputs")]
    public void TwoInputs(Reminder a, Reminder b)
    {
    }

    [Workflow("returns-int")]
    public int ReturnsInt() => 1;

    [Workflow("send-reminder")]
    public void Duplicate()
    {
    }

    [Workflow("async-void")]
    public async void AsyncVoid()
    {
        await Task.Yield();
    }

    [Workflow("unregistered-service")]
    public static void UnregisteredService(IUnregisteredSender sender, Reminder input)
    {
    }
}

/// <summary>A service the application never registers.</summary>
public interface IUnregisteredSender;

/// <summary>A workflow class whose constructor needs a service nobody registered.</summary>
public sealed class NeedsUnregisteredService(IUnregisteredSender sender)
{
    public IUnregisteredSender Sender { get; } = sender;

    [Workflow("needs-unregistered")]
    public void Run()
    {
    }
}
#pragma warning restore CA1822

/// <summary>A scoped service, to prove that workflow parameters are resolved from a scope per run.</summary>
public sealed class RunScopeProbe
{
    public Guid Id { get; } = Guid.NewGuid();
}

/// <summary>A static workflow that takes a scoped service and records the scope it got.</summary>
public static class ScopedServiceWorkflows
{
    [Workflow("takes-scoped-service")]
    public static void Handle(RunScopeProbe probe, RunLog log, ScheduledRunContext run) => log.Record(run, probe.Id);
}

/// <summary>A workflow only "another version of the application" defines.</summary>
public sealed class ElsewhereWorkflows(RunLog log)
{
    [Workflow("defined-elsewhere")]
    public void Run(ScheduledRunContext run) => log.Record(run);
}

/// <summary>What <see cref="BlockingWorkflows"/> share with the test driving them.</summary>
public sealed class BlockingState
{
    public int Expected;
    public int Started;
    public int Satisfied; // handlers that saw what they waited for before their 30-second bound
    public readonly TaskCompletionSource<Guid> FirstRun = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public int StartedAfterStop; // handlers entered with their token already cancelled
}

/// <summary>Handlers that block their thread (no await), for the engine's batch starts on the real clock.</summary>
public sealed class BlockingWorkflows(BlockingState state, IScheduler scheduler)
{
    /// <summary>Blocks its thread until every run of the test has started.</summary>
    [Workflow("block-until-all-started")]
    public void BlockUntilAllStarted()
    {
        Interlocked.Increment(ref state.Started);
        if (SpinWait.SpinUntil(() => Volatile.Read(ref state.Started) >= state.Expected, TimeSpan.FromSeconds(30)))
        {
            Interlocked.Increment(ref state.Satisfied);
        }
    }

    /// <summary>
    /// The first run to start returns at once; every later one blocks its thread until that first run is stored as
    /// succeeded.
    /// </summary>
    [Workflow("first-returns-others-wait-for-it")]
    public void FirstReturnsOthersWaitForIt(ScheduledRunContext run)
    {
        if (Interlocked.Increment(ref state.Started) == 1)
        {
            state.FirstRun.SetResult(run.RunId);
            return;
        }

        if (SpinWait.SpinUntil(() => scheduler.GetAsync(state.FirstRun.Task.Result).GetAwaiter().GetResult()?.Status == RunStatus.Succeeded, TimeSpan.FromSeconds(30)))
        {
            Interlocked.Increment(ref state.Satisfied);
        }
    }

    /// <summary>Blocks its thread until its token is cancelled (the scheduler stopping); counts a start after that.</summary>
    [Workflow("wait-for-stop")]
    public void WaitForStop(ScheduledRunContext run, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            Interlocked.Increment(ref state.StartedAfterStop);
            return;
        }

        Interlocked.Increment(ref state.Started);
        state.FirstRun.TrySetResult(run.RunId);
        ct.WaitHandle.WaitOne(TimeSpan.FromSeconds(30));
    }
}
