using System.Collections.Specialized;
using System.Diagnostics;
using Hangfire;
using Hangfire.InMemory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// In-memory throughput beside peers configured as their users would tune them (<c>-- peers [--runs N] [--rounds N]</c>):
/// N one-time runs due now (default 100,000), from the first schedule call to the last completion, trivial handler, a
/// fresh instance per round, contenders alternating round by round after unmeasured warm-up rounds. With
/// <c>--long-lived</c> each contender instead keeps one instance, started before its first warm-up round and stopped
/// after its last measured one, as an application would (the runtime's tiering then settles on the contender's own
/// code rather than on building a new instance every round).
/// </summary>
/// <remarks>
/// Contenders: ours at its defaults (MaxConcurrency 64); Quartz.NET 4.7.3 RAMJobStore at its defaults (10 threads,
/// triggers acquired one at a time) and tuned (64 threads, batches of 64 triggers, a 60 s misfire threshold, so none of
/// a backlog counts as misfired); Hangfire 1.8 on Hangfire.InMemory with 64 workers, jobs enqueued (its path for work
/// due now; a job scheduled for "now" waits for the delayed-job poller).
/// <para>
/// Before every round, warm-up or measured, of every contender, the harness collects all garbage and waits for
/// finalizers, outside the timed window (<c>--no-settle</c> skips it). Why: otherwise a round pays for the garbage the
/// round before left, which is another contender's (an instance stopped, its state dropped). Ten warm-up rounds by
/// default: the runtime recompiles a hot method optimized only once no new code has been compiled for a while, and each
/// new instance compiles some, so fewer rounds measure a contender partly unoptimized.
/// </para>
/// </remarks>
internal static class PeerThroughputBenchmarks
{
    private const int Concurrency = 64;

    public static async Task RunAsync(string[] args)
    {
        int runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).DefaultIfEmpty(100_000).First();
        int rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(int.Parse).DefaultIfEmpty(5).First();
        int warmUps = args.SkipWhile(a => a != "--warm-up").Skip(1).Select(int.Parse).DefaultIfEmpty(10).First();
        int warmUpRuns = args.SkipWhile(a => a != "--warm-up-runs").Skip(1).Select(int.Parse).DefaultIfEmpty(Math.Min(runs, 20_000)).First();
        GlobalConfiguration.Configuration.UseSimpleAssemblyNameTypeSerializer().UseRecommendedSerializerSettings();
        bool longLived = args.Contains("--long-lived");
        bool settle = !args.Contains("--no-settle");
        var instances = new List<IAsyncDisposable>();
        var contenders = longLived
            ? new (string Name, Func<int, Task<double>> Run)[]
            {
                ("Durable.Scheduling (in memory, defaults: 64 slots), one host", Keep(instances, await OursLongLivedAsync())),
                ("Quartz 4.7.3 RAMJobStore, defaults (10 threads), one scheduler", Keep(instances, await QuartzLongLivedAsync(tuned: false))),
                ("Quartz 4.7.3 RAMJobStore, tuned (64 threads, batch 64, misfire 60 s), one scheduler", Keep(instances, await QuartzLongLivedAsync(tuned: true))),
                ("Hangfire 1.8.25 + Hangfire.InMemory, 64 workers, one server", Keep(instances, HangfireLongLived())),
            }
            : new (string Name, Func<int, Task<double>> Run)[]
            {
                ("Durable.Scheduling (in memory, defaults: 64 slots)", OursAsync),
                ("Quartz 4.7.3 RAMJobStore, defaults (10 threads)", n => QuartzAsync(n, tuned: false)),
                ("Quartz 4.7.3 RAMJobStore, tuned (64 threads, batch 64, misfire 60 s)", n => QuartzAsync(n, tuned: true)),
                ("Hangfire 1.8.25 + Hangfire.InMemory, 64 workers", HangfireAsync),
            };
        Console.WriteLine($"# In-memory throughput beside peers, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version}: {runs:N0} runs due now, {rounds} measured rounds after {warmUps} warm-up rounds of {warmUpRuns:N0} runs each, {(longLived ? "one instance per contender for all rounds" : "a fresh instance per round")}, {(settle ? "a full collection before every round" : "no collection between rounds")}");
        for (int warmUp = 0; warmUp < warmUps; warmUp++)
        {
            foreach (var (_, run) in contenders)
            {
                Settle(settle);
                await run(warmUpRuns);
            }
        }

        var results = contenders.Select(_ => new List<double>()).ToArray();
        for (int round = 0; round < rounds; round++)
        {
            for (int c = 0; c < contenders.Length; c++)
            {
                Settle(settle);
                results[c].Add(await contenders[c].Run(runs));
            }
        }

        foreach (var instance in instances)
        {
            await instance.DisposeAsync();
        }

        Console.WriteLine();
        Console.WriteLine("| contender | runs/s per round | median | ours ÷ this, per round |");
        Console.WriteLine("|---|---|---|---|");
        for (int c = 0; c < contenders.Length; c++)
        {
            var sorted = results[c].Order().ToList();
            string ratios = c == 0 ? "" : string.Join(", ", results[0].Zip(results[c], (o, p) => $"{o / p:F1}×"));
            Console.WriteLine($"| {contenders[c].Name} | {string.Join(", ", results[c].Select(r => r.ToString("N0")))} | {sorted[sorted.Count / 2]:N0} | {ratios} |");
        }
    }

    /// <summary>Collects all garbage before a round, when asked (see the class).</summary>
    private static void Settle(bool settle)
    {
        if (settle)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
    }

    private static async Task<double> OursAsync(int count)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddLogging(l => l.ClearProviders());
        builder.Services.AddScheduling(o => o.Assemblies.Add(typeof(PeerThroughputBenchmarks).Assembly));
        using var host = builder.Build();
        await host.StartAsync();
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        SchedulerRunBenchmarks.Expect(count);
        var now = TimeProvider.System.GetUtcNow();
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await scheduler.ScheduleAsync("bench-noop", now);
        }

        await SchedulerRunBenchmarks.Finished;
        double rate = count / watch.Elapsed.TotalSeconds;
        await host.StopAsync();
        return rate;
    }

    /// <summary>A contender kept alive across rounds: each round schedules and awaits its runs; disposing stops it.</summary>
    private sealed class LongLived(Func<int, Task> schedule, Func<Task> stop) : IAsyncDisposable
    {
        public async Task<double> RoundAsync(int count)
        {
            SchedulerRunBenchmarks.Expect(count);
            var watch = Stopwatch.StartNew();
            await schedule(count);
            await SchedulerRunBenchmarks.Finished;
            return count / watch.Elapsed.TotalSeconds;
        }

        public async ValueTask DisposeAsync() => await stop();
    }

    private static Func<int, Task<double>> Keep(List<IAsyncDisposable> instances, LongLived contender)
    {
        instances.Add(contender);
        return contender.RoundAsync;
    }

    private static async Task<LongLived> OursLongLivedAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddLogging(l => l.ClearProviders());
        builder.Services.AddScheduling(o => o.Assemblies.Add(typeof(PeerThroughputBenchmarks).Assembly));
        var host = builder.Build();
        await host.StartAsync();
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        return new LongLived(
            async count =>
            {
                var now = TimeProvider.System.GetUtcNow();
                for (int i = 0; i < count; i++)
                {
                    await scheduler.ScheduleAsync("bench-noop", now);
                }
            },
            async () =>
            {
                await host.StopAsync();
                host.Dispose();
            });
    }

    private static async Task<LongLived> QuartzLongLivedAsync(bool tuned)
    {
        var scheduler = await NewQuartzAsync(tuned);
        var job = JobBuilder.Create<PeerNoopJob>().WithIdentity("noop").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        await scheduler.Start();
        return new LongLived(
            async count =>
            {
                for (int i = 0; i < count; i++)
                {
                    await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).StartNow().Build());
                }
            },
            () => scheduler.Shutdown(false).AsTask());
    }

    private static LongLived HangfireLongLived()
    {
        var storage = new InMemoryStorage();
        var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = Concurrency }, storage);
        var client = new BackgroundJobClient(storage);
        return new LongLived(
            count =>
            {
                for (int i = 0; i < count; i++)
                {
                    client.Enqueue(() => HangfireJobs.Noop());
                }

                return Task.CompletedTask;
            },
            () =>
            {
                server.Dispose();
                storage.Dispose();
                return Task.CompletedTask;
            });
    }

    private static Task<Quartz.IScheduler> NewQuartzAsync(bool tuned)
    {
        var properties = new NameValueCollection
        {
            ["quartz.scheduler.instanceName"] = "peers-" + Guid.NewGuid().ToString("N"),
        };
        if (tuned)
        {
            properties["quartz.scheduler.batchTriggerAcquisitionMaxCount"] = Concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture);
            properties["quartz.jobStore.misfireThreshold"] = "60000";
        }

        return QuartzSchedulerBuilder.Create(q => q.UseDefaultThreadPool(tuned ? Concurrency : 10)).UseProperties(properties).BuildScheduler().AsTask();
    }

    private static async Task<double> QuartzAsync(int count, bool tuned)
    {
        var scheduler = await NewQuartzAsync(tuned);
        var job = JobBuilder.Create<PeerNoopJob>().WithIdentity("noop").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        await scheduler.Start();
        SchedulerRunBenchmarks.Expect(count);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).StartNow().Build());
        }

        await SchedulerRunBenchmarks.Finished;
        double rate = count / watch.Elapsed.TotalSeconds;
        await scheduler.Shutdown(false);
        return rate;
    }

    private static async Task<double> HangfireAsync(int count)
    {
        using var storage = new InMemoryStorage(); // disposed after the server: its dispatcher thread would keep it (and its jobs) alive
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = Concurrency }, storage);
        var client = new BackgroundJobClient(storage);
        SchedulerRunBenchmarks.Expect(count);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            client.Enqueue(() => HangfireJobs.Noop());
        }

        await SchedulerRunBenchmarks.Finished;
        double rate = count / watch.Elapsed.TotalSeconds;
        server.SendStop();
        return rate;
    }

    private sealed class PeerNoopJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            SchedulerRunBenchmarks.Done();
            return ValueTask.CompletedTask;
        }
    }
}
