using Durable.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Durable.Scheduling.Tests.Testing;

/// <summary>
/// A scheduler on a <see cref="SteppedClock"/> (Microsoft's FakeTimeProvider), with the workflows of the given types only. Time moves only through
/// <see cref="RunUntilAsync"/>, which steps from timer to timer and lets the scheduler settle at each, so days of
/// schedules run in milliseconds and every run is observed at its simulated instant.
/// </summary>
public sealed class SchedulerHarness : IAsyncDisposable
{
    private readonly ServiceProvider _provider;
    private readonly ISchedulerActivity _activity;
    private bool _started;

    public SchedulerHarness(DateTimeOffset start, Type[] workflowTypes, Action<SchedulingOptions>? configure = null, ISchedulingStore? store = null, Action<IServiceCollection>? services = null)
    {
        Time = new SteppedClock(start);
        var collection = new ServiceCollection();
        collection.AddLogging();
        collection.AddSingleton<TimeProvider>(Time);
        collection.AddSingleton(Log);
        services?.Invoke(collection);
        var builder = collection.AddScheduling(o =>
        {
            foreach (var type in workflowTypes)
            {
                o.WorkflowTypes.Add(type);
            }

            o.PollInterval = TimeSpan.FromMinutes(1);
            o.LookAhead = TimeSpan.FromMinutes(2);
            configure?.Invoke(o);
        });
        if (store is not null)
        {
            builder.UseStore(_ => store);
        }

        _provider = collection.BuildServiceProvider();
        _activity = _provider.GetRequiredService<ISchedulerActivity>();
        Scheduler = _provider.GetRequiredService<IScheduler>();
        Store = _provider.GetRequiredService<ISchedulingStore>();
    }

    public SteppedClock Time { get; }

    public RunLog Log { get; } = new();

    public IScheduler Scheduler { get; }

    public ISchedulingStore Store { get; }

    public IServiceProvider Services => _provider;

    /// <summary>
    /// Starts the hosted services and, unless <paramref name="settle"/> is false, waits until the loop is idle (false:
    /// what an app's next line after starting its host sees).
    /// </summary>
    public async Task StartAsync(bool settle = true)
    {
        foreach (var service in _provider.GetServices<IHostedService>())
        {
            await service.StartAsync(CancellationToken.None);
        }

        _started = true;
        if (settle)
        {
            await SettleAsync();
        }
    }

    /// <summary>
    /// Moves the clock from timer to timer until <paramref name="until"/>, settling after each step; with a
    /// <paramref name="lag"/>, each step lands that much after the timer's instant (as a real clock, which always
    /// carries a fraction past the instant a timer asked for).
    /// </summary>
    public async Task RunUntilAsync(DateTimeOffset until, TimeSpan lag = default)
    {
        await SettleAsync();
        while (Time.NextTimerDue is { } next && next <= until)
        {
            next += lag;
            Time.SetUtcNow(next > Time.GetUtcNow() ? next : Time.GetUtcNow());
            await SettleAsync();
        }

        if (Time.GetUtcNow() < until)
        {
            Time.SetUtcNow(until);
            await SettleAsync();
        }
    }

    public Task RunForAsync(TimeSpan duration) => RunUntilAsync(Time.GetUtcNow() + duration);

    /// <summary>
    /// Runs several schedulers (instances sharing a store) side by side until <paramref name="until"/>: each moves to
    /// the next step (its timers in between fired in order) before any moves to the one after.
    /// </summary>
    public static async Task RunTogetherUntilAsync(DateTimeOffset until, TimeSpan step, params SchedulerHarness[] harnesses)
    {
        var at = harnesses.Min(h => h.Time.GetUtcNow());
        while (at < until)
        {
            at = at + step < until ? at + step : until;
            foreach (var harness in harnesses)
            {
                await harness.RunUntilAsync(at);
            }
        }
    }

    /// <summary>Waits (in real time, without ever asserting on it) until the scheduler has nothing left to do now.</summary>
    public async Task SettleAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        int stable = 0;
        while (stable < 3)
        {
            await Task.Yield();
            stable = _activity.IsIdle && _activity.RunningHandlers == Log.Parked ? stable + 1 : 0;
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The scheduler did not settle within 30 s of real time: a handler is blocked on something other than the fake clock.");
            }
        }
    }

    public async Task StopAsync(TimeSpan? timeout = null)
    {
        if (!_started)
        {
            return;
        }

        _started = false;
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        foreach (var service in _provider.GetServices<IHostedService>().Reverse())
        {
            await service.StopAsync(cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _provider.DisposeAsync();
    }
}
