using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using System.Collections.Specialized;
using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Quartz;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// End-to-end scheduler figures, ours beside Quartz.NET 4.7.3 (RAMJobStore) in the same process and run:
/// (a) throughput of 100,000 one-time runs due now; (b) time and retained memory per pending run for 1,000,000 runs
/// due tomorrow; (c) lateness of 1,000 runs spread over 10 s, beside a bare System.Threading.Timer, and of 1,000
/// every-second cron schedules over 10 s; plus CPU use while idle. Run with <c>-- scheduler</c>.
/// </summary>
internal static class SchedulerRunBenchmarks
{
    private static int s_done;
    private static double s_producerMs;
    private static int s_target;
    private static TaskCompletionSource s_finished = new();
    private static readonly List<double> s_lateness = [];
    private static readonly Lock s_lock = new();

    public static async Task RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        s_freshCron = args.Contains("--fresh");
        if (args.Contains("--cron-only"))
        {
            s_bySecond = [];
            int slots = args.SkipWhile(a => a != "--slots").Skip(1).Select(int.Parse).DefaultIfEmpty(2000).First();
            Console.WriteLine($"| (c) 1,000 every-second cron schedules, 10 s, {slots} slots | {await OursCronLatenessAsync(1000, TimeSpan.FromSeconds(10), slots)} |");
            Console.WriteLine($"  {CronWindowNote}");
            Console.WriteLine($"  GC: gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}, total pause {GC.GetTotalPauseDuration().TotalMilliseconds:F1} ms, threads {ThreadPool.ThreadCount}");
            foreach (var (second, (min, max, count)) in s_bySecond.OrderBy(p => p.Key))
            {
                Console.WriteLine($"  {second}: first {min:F3} ms, last {max:F3} ms, {count} runs");
            }

            return;
        }

        if (args.Contains("--cron-after-pending"))
        {
            // The full run's order: the pending-runs measurement (a million runs' garbage), then the cron measurement.
            await OursPendingCostAsync(1_000_000);
            await QuartzPendingCostAsync(1_000_000);
            for (int round = 0; round < 3; round++)
            {
                if (!args.Contains("--no-settle"))
                {
                    Settle();
                }

                s_bySecond = [];
                int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
                var pause = GC.GetTotalPauseDuration();
                Console.WriteLine($"cron round {round + 1}: {await OursCronLatenessAsync(1000, TimeSpan.FromSeconds(10))}; GCs {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}, pause {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F1} ms, threads {ThreadPool.ThreadCount}");
                var info = GC.GetGCMemoryInfo(GCKind.Ephemeral);
                Console.WriteLine($"  last ephemeral GC #{info.Index} gen{info.Generation}: pause {info.PauseDurations[0].TotalMilliseconds:F1} ms, promoted {info.PromotedBytes / 1024:N0} KB, heap {info.HeapSizeBytes / 1024 / 1024:N0} MB, gen0 size before {info.GenerationInfo[0].SizeBeforeBytes / 1024 / 1024:N0} MB, gen1 before {info.GenerationInfo[1].SizeBeforeBytes / 1024:N0} KB, gen2 {info.GenerationInfo[2].SizeAfterBytes / 1024 / 1024:N0} MB, LOH {info.GenerationInfo[3].SizeAfterBytes / 1024 / 1024:N0} MB");
                foreach (var (second, (min, max, count)) in s_bySecond.OrderBy(p => p.Key).Where(p => p.Value.Max > 1.0))
                {
                    Console.WriteLine($"  {second}: first {min:F3} ms, last {max:F3} ms, {count} runs");
                }
            }

            return;
        }

        if (args.Contains("--pending-only"))
        {
            // Warm-up long enough for the runtime to recompile the path optimized: it promotes a method only once no
            // new code has been compiled for a while, and every host start compiles some (workflow invokers), so a
            // 100,000-run warm-up left the 10k and 100k rounds measuring unoptimized code (about three times slower).
            // Quartz (RAMJobStore, defaults) is warmed up the same way and measured in the same rounds, alternating.
            await OursPendingCostAsync(1_000_000);
            await OursPendingCostAsync(100_000);
            await QuartzPendingCostAsync(1_000_000);
            await QuartzPendingCostAsync(100_000);
            foreach (int count in new[] { 10_000, 100_000, 1_000_000 })
            {
                for (int round = 0; round < 3; round++)
                {
                    var (cost, bytes) = await OursPendingCostAsync(count);
                    var (peerCost, peerBytes) = await QuartzPendingCostAsync(count);
                    Console.WriteLine($"(b) {count:N0} pending runs over a day: {cost:F2} µs / {bytes:N0} B per run; Quartz RAMJobStore {peerCost:F2} µs / {peerBytes:N0} B per run");
                }
            }

            return;
        }

        if (args.Contains("--punctuality"))
        {
            // Both contenders with the same concurrency (our default MaxConcurrency, 64; Quartz 64 threads), in a fresh
            // process: the first runs (the 200 over the first second, uncounted elsewhere) are reported on their own.
            Settle();
            string ours = await OursLatenessAsync(1000, TimeSpan.FromSeconds(10));
            string oursFirst = s_firstRuns;
            Settle();
            string quartz = await QuartzLatenessAsync(1000, TimeSpan.FromSeconds(10), threads: 64);
            string quartzFirst = s_firstRuns;
            Settle();
            string cronOurs = await OursCronLatenessAsync(1000, TimeSpan.FromSeconds(10), maxConcurrency: 64);
            string cronOursNote = CronWindowNote;
            Settle();
            string cronQuartz = await QuartzCronLatenessAsync(1000, TimeSpan.FromSeconds(10), threads: 64);
            string cronQuartzNote = CronWindowNote;
            Console.WriteLine("| measure, p50 / p99 / max (ms) | Durable.Scheduling, 64 slots | Quartz RAMJobStore, 64 threads |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| first 200 runs of a fresh process, over 1 s | {oursFirst} | {quartzFirst} |");
            Console.WriteLine($"| 1,000 runs over 10 s | {ours} | {quartz} |");
            Console.WriteLine($"| 1,000 every-second crons, 10 s | {cronOurs} | {cronQuartz} |");
            Console.WriteLine($"  crons: ours {cronOursNote}; Quartz {cronQuartzNote}");
            return;
        }

        if (args.Contains("--lateness-only"))
        {
            s_worst = [];
            Console.WriteLine($"(c) 1,000 runs over 10 s: ours {await OursLatenessAsync(1000, TimeSpan.FromSeconds(10))}, bare timer {await TimerLatenessAsync(1000, TimeSpan.FromSeconds(10))}");
            var first = s_worst.Min(w => w.At);
            foreach (var (ms, at) in s_worst.OrderByDescending(w => w.Ms).Take(12))
            {
                Console.WriteLine($"  {ms:F3} ms late, due at +{(at - first).TotalMilliseconds:F1} ms");
            }

            return;
        }

        if (args.Contains("--alloc"))
        {
            using var sampler = new AllocationSampler();
            await OursThroughputAsync(100_000);
            sampler.Active = true;
            for (int round = 0; round < 5; round++)
            {
                await OursThroughputAsync(100_000);
            }

            sampler.Active = false;
            sampler.Print(500_000);
            return;
        }

        if (args.Contains("--store-only"))
        {
            for (int round = 0; round < 10; round++)
            {
                await StoreOnlyAsync(100_000);
            }

            return;
        }

        if (args.Contains("--dispatch-only"))
        {
            for (int round = 0; round < 10; round++)
            {
                Console.WriteLine($"dispatch only, round {round + 1}: {await OursDispatchOnlyAsync(100_000):N0} runs/s");
            }

            return;
        }

        if (args.Contains("--compare-warm"))
        {
            var (host, ours) = await StartOursAsync();
            var (quartz, job) = await StartQuartzNoopAsync();
            for (int round = -3; round < 6; round++)
            {
                var a = await OursThroughputAsync(ours, 100_000);
                var b = await QuartzThroughputAsync(quartz, job, 100_000);
                Console.WriteLine($"{(round < 0 ? "warm-up" : "round " + (round + 1))}: ours {a.RunsPerSecond:N0} ({a.AllocatedPerRun:N0} B/run), quartz {b.RunsPerSecond:N0} ({b.AllocatedPerRun:N0} B/run), {a.RunsPerSecond / b.RunsPerSecond:F1}x");
            }

            await host.StopAsync();
            host.Dispose();
            await quartz.Shutdown(false);
            return;
        }

        if (args.Contains("--compare-a"))
        {
            for (int warmUp = 0; warmUp < 6; warmUp++)
            {
                await OursThroughputAsync(100_000);
                await QuartzThroughputAsync(100_000);
            }

            var ours = new List<double>();
            var quartz = new List<double>();
            for (int round = 0; round < 6; round++)
            {
                ours.Add((await OursThroughputAsync(100_000)).RunsPerSecond);
                quartz.Add((await QuartzThroughputAsync(100_000)).RunsPerSecond);
                Console.WriteLine($"round {round + 1}: ours {ours[^1]:N0}, quartz {quartz[^1]:N0}, {ours[^1] / quartz[^1]:F1}x");
            }

            ours.Sort();
            quartz.Sort();
            Console.WriteLine($"median ours {ours[3]:N0}, quartz {quartz[3]:N0}");
            return;
        }

        if (args.Contains("--throughput-only"))
        {
            // For profiling: ours only, several rounds of (a).
            for (int round = 0; round < (args.Contains("--long") ? 25 : 10); round++)
            {
                int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
                var pause = GC.GetTotalPauseDuration();
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var (runsPerSecond, allocatedPerRun) = await OursThroughputAsync(100_000);
                Console.WriteLine($"cpu {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / 100_000:F2} us/run");
                Console.WriteLine($"(a) round {round + 1}: {runsPerSecond:N0} runs/s, {allocatedPerRun:N0} B allocated/run; GCs {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}, pause {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:F1} ms; producer {s_producerMs:F0} ms; threads {ThreadPool.ThreadCount}");
            }

            return;
        }

        int throughputRuns = quick ? 20_000 : 100_000;
        int pendingRuns = quick ? 100_000 : 1_000_000;
        Console.WriteLine($"# Scheduler benchmarks, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine();
        Console.WriteLine("| measure | Durable.Scheduling (in-memory) | Quartz 4.7.3 RAMJobStore | bare Timer |");
        Console.WriteLine("|---|---|---|---|");

        // (a): a fresh instance per round for each contender, after unmeasured warm-up rounds (each round starts a new
        // host or scheduler, and the runtime keeps compiling hot code for its first seconds), alternating contenders.
        for (int warmUp = 0; warmUp < (quick ? 1 : 5); warmUp++)
        {
            await OursThroughputAsync(throughputRuns);
            await QuartzThroughputAsync(throughputRuns);
        }

        var ratios = new List<double>();
        for (int round = 0; round < 5; round++)
        {
            var (ours, oursAlloc) = await OursThroughputAsync(throughputRuns);
            var (quartz, quartzAlloc) = await QuartzThroughputAsync(throughputRuns);
            ratios.Add(ours / quartz);
            Console.WriteLine($"| (a) {throughputRuns:N0} runs due now, round {round + 1}: runs/s | {ours:N0} ({oursAlloc:N0} B allocated/run; {ours / quartz:F1}x) | {quartz:N0} ({quartzAlloc:N0} B/run) | |");
        }

        ratios.Sort();
        Console.WriteLine($"| (a) median ratio over the five rounds | {ratios[2]:F1}x | | |");

        // Each side first schedules a tenth as many runs in a throw-away instance (warm-up), then is measured.
        await OursPendingCostAsync(pendingRuns / 10);
        var (oursCost, oursBytes) = await OursPendingCostAsync(pendingRuns);
        await QuartzPendingCostAsync(pendingRuns / 10);
        var (quartzCost, quartzBytes) = await QuartzPendingCostAsync(pendingRuns);
        Console.WriteLine($"| (b) {pendingRuns:N0} pending runs due tomorrow: time / retained memory per run | {oursCost:F2} µs / {oursBytes:N0} B | {quartzCost:F2} µs / {quartzBytes:N0} B | |");

        // Each punctuality measurement starts on a collected heap, so none pays for the garbage of the one before
        // (the million pending runs of (b) above all).
        Settle();
        var timer = await TimerLatenessAsync(1000, TimeSpan.FromSeconds(10));
        Settle();
        var oursLate = await OursLatenessAsync(1000, TimeSpan.FromSeconds(10));
        Settle();
        var quartzLate = await QuartzLatenessAsync(1000, TimeSpan.FromSeconds(10));
        Console.WriteLine($"| (c) 1,000 runs over 10 s: lateness p50 / p99 / max (ms) | {oursLate} | {quartzLate} | {timer} |");

        Settle();
        var oursCron = await OursCronLatenessAsync(1000, TimeSpan.FromSeconds(10));
        Settle();
        var quartzCron = await QuartzCronLatenessAsync(1000, TimeSpan.FromSeconds(10));
        Console.WriteLine($"| (c) 1,000 every-second cron schedules, 10 s: lateness p50 / p99 / max (ms) | {oursCron} | {quartzCron} | |");

        var idle = await OursIdleCpuAsync(TimeSpan.FromSeconds(10));
        Console.WriteLine($"| idle CPU with a run due in an hour (10 s) | {idle:P2} of one core | | |");
    }

    /// <summary>Arms the completion counter for <paramref name="count"/> runs of <c>bench-noop</c>.</summary>
    public static void Expect(int count) => Reset(count);

    public static Task Finished => s_finished.Task;

    public static void Done()
    {
        if (Interlocked.Increment(ref s_done) == s_target)
        {
            s_finished.TrySetResult();
        }
    }

    public static void Late(ScheduledRunContext run)
    {
        double ms = (TimeProvider.System.GetUtcNow() - run.ScheduledTime).TotalMilliseconds;
        if (!InWindow(run.ScheduledTime))
        {
            return;
        }

        if (s_worst is { } worst)
        {
            lock (worst)
            {
                worst.Add((ms, run.ScheduledTime));
            }
        }

        RecordLateness(ms);
        if (s_bySecond is { } bySecond)
        {
            lock (bySecond)
            {
                var key = run.ScheduledTime.ToUnixTimeSeconds();
                bySecond[key] = bySecond.TryGetValue(key, out var v) ? (Math.Min(v.Min, ms), Math.Max(v.Max, ms), v.Count + 1) : (ms, ms, 1);
            }
        }
    }

    private static Dictionary<long, (double Min, double Max, int Count)>? s_bySecond;

    // The fire times a cron measure counts (UTC ticks; open while no measure restricts it).
    private static long s_windowStartTicks = long.MinValue;
    private static long s_windowEndTicks = long.MaxValue;

    private static bool InWindow(DateTimeOffset scheduled) =>
        scheduled.UtcTicks >= Volatile.Read(ref s_windowStartTicks) && scheduled.UtcTicks < Volatile.Read(ref s_windowEndTicks);

    /// <summary>
    /// Counts the runs whose fire time lies in whole seconds from the second after next on, for the duration, then
    /// returns their percentiles. Runs are counted by fire time, not by when they report: a run delayed past the
    /// window's start by what came before it (the collection just made) is not counted, nor is a window's first second
    /// cut short.
    /// </summary>
    private static async Task<string> CronWindowAsync(TimeSpan duration)
    {
        var now = DateTimeOffset.UtcNow;
        long start = now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerSecond) + (2 * TimeSpan.TicksPerSecond);
        long end = start + duration.Ticks;
        Volatile.Write(ref s_windowEndTicks, end);
        Volatile.Write(ref s_windowStartTicks, start);
        Reset(int.MaxValue);
        if (s_bySecond is { } bySecond)
        {
            lock (bySecond)
            {
                bySecond.Clear();
            }
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
        await Task.Delay(new DateTimeOffset(end, TimeSpan.Zero) - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1)); // the last second's runs report
        string result = Percentiles();
        s_lastWindow = $"{(GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1024 / 1024.0:F1} MB allocated, collections {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}";
        if (Environment.GetEnvironmentVariable("BENCH_TRACE") == "1")
        {
            Console.WriteLine($"  window: {s_lastWindow}");
        }

        Volatile.Write(ref s_windowStartTicks, long.MinValue);
        Volatile.Write(ref s_windowEndTicks, long.MaxValue);
        return result;
    }
    private static List<(double Ms, DateTimeOffset At)>? s_worst;

    private static void RecordLateness(double ms)
    {
        lock (s_lock)
        {
            s_lateness.Add(ms);
        }
    }

    /// <summary>A full, compacting, blocking collection (as BenchmarkDotNet makes between iterations).</summary>
    private static void Settle()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    }

    private static void Reset(int target)
    {
        s_done = 0;
        s_target = target;
        s_finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (s_lock)
        {
            s_lateness.Clear();
        }
    }

    private static string Percentiles()
    {
        List<double> sorted;
        lock (s_lock)
        {
            sorted = [.. s_lateness.Order()];
        }

        if (sorted.Count == 0)
        {
            return "n/a";
        }

        double P(double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
        return $"{P(0.5):F3} / {P(0.99):F3} / {sorted[^1]:F3}";
    }

    private static async Task<(IHost Host, IScheduler Scheduler)> StartOursAsync(Action<SchedulingOptions>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddLogging(l => l.ClearProviders());
        builder.Services.AddScheduling(o =>
        {
            o.Assemblies.Add(typeof(SchedulerRunBenchmarks).Assembly);
            configure?.Invoke(o);
        });
        var host = builder.Build();
        await host.StartAsync();
        return (host, host.Services.GetRequiredService<IScheduler>());
    }

    private static async Task StoreOnlyAsync(int count)
    {
        var store = new InMemorySchedulingStore();
        var now = TimeProvider.System.GetUtcNow();
        var watch = Stopwatch.StartNew();
        var ids = new List<Guid>(count);
        for (int i = 0; i < count; i++)
        {
            var id = RunIds.Next(now);
            ids.Add(id);
            await store.InsertOneAsync(new ScheduledRun { Id = id, WorkflowName = "bench-noop", Kind = RunKind.OneTime, ScheduledTime = now, DueTime = now, Status = RunStatus.Pending, CreatedAt = now }, default);
        }

        double insert = watch.Elapsed.TotalNanoseconds / count;
        watch.Restart();
        string? cursor = null;
        int due = 0;
        do
        {
            var page = await store.GetDueAsync(now, 1000, cursor, default);
            due += page.Runs.Count;
            cursor = page.ContinuationToken;
        }
        while (cursor is not null);
        double getDue = watch.Elapsed.TotalNanoseconds / count;
        watch.Restart();
        var leases = new List<RunLease>(count);
        for (int offset = 0; offset < count; offset += 1000)
        {
            leases.AddRange(await store.ClaimAsync(ids.GetRange(offset, 1000), now, TimeSpan.FromMinutes(5), "me", default));
        }

        double claim = watch.Elapsed.TotalNanoseconds / count;
        watch.Restart();
        var completions = new List<RunCompletion>(1000);
        for (int offset = 0; offset < count; offset += 1000)
        {
            completions.Clear();
            for (int i = offset; i < offset + 1000; i++)
            {
                completions.Add(new RunCompletion(leases[i].Run.Id, leases[i].Token, RunStatus.Succeeded, now, null));
            }

            await store.CompleteAsync(completions, default);
        }

        double complete = watch.Elapsed.TotalNanoseconds / count;
        Console.WriteLine($"store: insert {insert:F0} ns, get-due {getDue:F0} ns ({due}), claim {claim:F0} ns, complete {complete:F0} ns per run");
    }

    private static async Task<double> OursDispatchOnlyAsync(int count)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddLogging(l => l.ClearProviders());
        builder.Services.AddScheduling(o => o.Assemblies.Add(typeof(SchedulerRunBenchmarks).Assembly));
        var host = builder.Build();
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        Reset(count);
        var now = TimeProvider.System.GetUtcNow();
        for (int i = 0; i < count; i++)
        {
            await scheduler.ScheduleAsync("bench-noop", now);
        }

        var watch = Stopwatch.StartNew();
        await host.StartAsync();
        await s_finished.Task;
        watch.Stop();
        await host.StopAsync();
        host.Dispose();
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<(double RunsPerSecond, double AllocatedPerRun)> OursThroughputAsync(int count)
    {
        var (host, scheduler) = await StartOursAsync();
        var result = await OursThroughputAsync(scheduler, count);
        await host.StopAsync();
        host.Dispose();
        return result;
    }

    /// <summary>(a) on a scheduler already running (as in a service): the same instance serves every round.</summary>
    private static async Task<(double RunsPerSecond, double AllocatedPerRun)> OursThroughputAsync(IScheduler scheduler, int count)
    {
        Reset(count);
        var now = TimeProvider.System.GetUtcNow();
        long allocated = GC.GetTotalAllocatedBytes(true);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await scheduler.ScheduleAsync("bench-noop", now);
        }

        s_producerMs = watch.Elapsed.TotalMilliseconds;
        await s_finished.Task;
        watch.Stop();
        long bytes = GC.GetTotalAllocatedBytes(true) - allocated;
        return (count / watch.Elapsed.TotalSeconds, bytes / (double)count);
    }

    private static async Task<(double RunsPerSecond, double AllocatedPerRun)> QuartzThroughputAsync(int count)
    {
        var (scheduler, job) = await StartQuartzNoopAsync();
        var result = await QuartzThroughputAsync(scheduler, job, count);
        await scheduler.Shutdown(false);
        return result;
    }

    private static async Task<(Quartz.IScheduler Scheduler, IJobDetail Job)> StartQuartzNoopAsync()
    {
        var scheduler = await NewQuartzAsync();
        var job = JobBuilder.Create<NoopJob>().WithIdentity("noop").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        await scheduler.Start();
        return (scheduler, job);
    }

    private static async Task<(double RunsPerSecond, double AllocatedPerRun)> QuartzThroughputAsync(Quartz.IScheduler scheduler, IJobDetail job, int count)
    {
        Reset(count);
        long allocated = GC.GetTotalAllocatedBytes(true);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).StartNow().Build());
        }

        await s_finished.Task;
        watch.Stop();
        long bytes = GC.GetTotalAllocatedBytes(true) - allocated;
        return (count / watch.Elapsed.TotalSeconds, bytes / (double)count);
    }

    private static async Task<(double MicrosecondsPerRun, double BytesPerRun)> OursPendingCostAsync(int count)
    {
        var (host, scheduler) = await StartOursAsync();
        var tomorrow = TimeProvider.System.GetUtcNow().AddDays(1);
        long step = TimeSpan.TicksPerDay / count;
        await scheduler.ScheduleAsync("bench-noop", tomorrow.AddDays(2)); // the instance's one-time set-up is not a per-run cost
        long before = GC.GetTotalMemory(true);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await scheduler.ScheduleAsync("bench-noop", tomorrow.AddTicks(i * step)); // spread evenly over a whole day
        }

        watch.Stop();
        long after = GC.GetTotalMemory(true);
        GC.KeepAlive(scheduler);
        await host.StopAsync();
        host.Dispose();
        return (watch.Elapsed.TotalMicroseconds / count, (after - before) / (double)count);
    }

    private static async Task<(double MicrosecondsPerRun, double BytesPerRun)> QuartzPendingCostAsync(int count)
    {
        var scheduler = await NewQuartzAsync();
        var job = JobBuilder.Create<NoopJob>().WithIdentity("noop").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        await scheduler.Start();
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        long step = TimeSpan.TicksPerDay / count;
        await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).StartAt(tomorrow.AddDays(2)).Build()); // as ours: set-up first
        long before = GC.GetTotalMemory(true);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).StartAt(tomorrow.AddTicks(i * step)).Build());
        }

        watch.Stop();
        long after = GC.GetTotalMemory(true);
        await scheduler.Shutdown(false);
        return (watch.Elapsed.TotalMicroseconds / count, (after - before) / (double)count);
    }

    private static async Task<string> TimerLatenessAsync(int count, TimeSpan spread)
    {
        Reset(count);
        var random = new Random(1);
        var timers = new List<Timer>(count);
        var start = DateTimeOffset.UtcNow.AddSeconds(1);
        for (int i = 0; i < count; i++)
        {
            var due = start + (random.NextDouble() * spread);
            timers.Add(new Timer(_ =>
            {
                RecordLateness((DateTimeOffset.UtcNow - due).TotalMilliseconds);
                Done();
            }, null, due - DateTimeOffset.UtcNow, Timeout.InfiniteTimeSpan));
        }

        await s_finished.Task;
        timers.ForEach(t => t.Dispose());
        return Percentiles();
    }

    /// <summary>Runs before a lateness measurement, over one second, and not counted: the first runs of a process pay for compiling its code.</summary>
    private const int WarmUpRuns = 200;

    /// <summary>The lateness of the last measurement's warm-up runs (a process's first runs when it was the first).</summary>
    private static string s_firstRuns = "";

    private static async Task<string> OursLatenessAsync(int count, TimeSpan spread)
    {
        var (host, scheduler) = await StartOursAsync();
        var random = new Random(1);
        foreach (var (runs, over) in new[] { (WarmUpRuns, TimeSpan.FromSeconds(1)), (count, spread) })
        {
            if (runs == count)
            {
                s_firstRuns = Percentiles();
                Settle(); // measured on a collected heap: the start-up's objects promoted before, not during, the runs
            }

            Reset(runs);
            var start = TimeProvider.System.GetUtcNow().AddSeconds(1);
            for (int i = 0; i < runs; i++)
            {
                await scheduler.ScheduleAsync("bench-late", start + (random.NextDouble() * over));
            }

            await s_finished.Task;
        }

        await host.StopAsync();
        host.Dispose();
        return Percentiles();
    }

    private static async Task<string> QuartzLatenessAsync(int count, TimeSpan spread, int threads = 10)
    {
        var scheduler = await NewQuartzAsync(threads);
        var job = JobBuilder.Create<LateJob>().WithIdentity("late").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        await scheduler.Start();
        var random = new Random(1);
        foreach (var (runs, over) in new[] { (WarmUpRuns, TimeSpan.FromSeconds(1)), (count, spread) })
        {
            if (runs == count)
            {
                s_firstRuns = Percentiles();
                Settle(); // measured on a collected heap: the start-up's objects promoted before, not during, the runs
            }

            Reset(runs);
            var start = DateTimeOffset.UtcNow.AddSeconds(1);
            for (int i = 0; i < runs; i++)
            {
                await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).StartAt(start + (random.NextDouble() * over)).Build());
            }

            await s_finished.Task;
        }

        await scheduler.Shutdown(false);
        return Percentiles();
    }

    private static async Task<string> OursCronLatenessAsync(int schedules, TimeSpan duration, int maxConcurrency = 2000)
    {
        Reset(int.MaxValue);
        var method = typeof(BenchWorkflows).GetMethod(nameof(BenchWorkflows.EverySecond))!;
        var (host, _) = await StartOursAsync(o =>
        {
            o.MaxConcurrency = maxConcurrency;
            for (int i = 0; i < schedules; i++)
            {
                o.AddWorkflow(method, new ScheduledAttribute("* * * * * *") { Name = "every-second-" + i });
            }
        });
        await CronWarmUpAsync(); // start-up (1,000 compiled invokers, first occurrences), then the runtime's tiering
        Settle(); // and collect: the first collection after start-up promotes all it made, once, outside the measure
        string result = await CronWindowAsync(duration);
        await host.StopAsync();
        host.Dispose();
        return result;
    }

    /// <summary>
    /// The warm-up before a cron window: 3 s with <c>--fresh</c> (what a process shows in its first seconds), otherwise
    /// until the runtime's tiered compilation is done with the contender's code. Code that runs once a second (each
    /// second's burst, each feed) reaches its optimized tier only after tens of calls, so for the first half minute or
    /// so the compiler recompiles on one of the two cores while bursts run on them. Done: at most two methods compiled
    /// in the last 5 s (a few small ones keep trickling in), or 90 s. Both contenders get the same warm-up.
    /// </summary>
    private static async Task CronWarmUpAsync()
    {
        var watch = Stopwatch.StartNew();
        if (s_freshCron)
        {
            await Task.Delay(TimeSpan.FromSeconds(3));
        }
        else
        {
            var counts = new Queue<long>();
            while (watch.Elapsed < TimeSpan.FromSeconds(90))
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                counts.Enqueue(System.Runtime.JitInfo.GetCompiledMethodCount());
                if (counts.Count > 5 && counts.Dequeue() + 2 >= counts.Last() && watch.Elapsed >= TimeSpan.FromSeconds(10))
                {
                    break;
                }
            }
        }

        s_cronWarmUp = watch.Elapsed;
    }

    private static bool s_freshCron;
    private static TimeSpan s_cronWarmUp;
    private static string s_lastWindow = "";

    /// <summary>The last cron window's warm-up, and what the collector did in the window itself.</summary>
    private static string CronWindowNote => $"warm-up {s_cronWarmUp.TotalSeconds:F0} s; in the window {s_lastWindow}";

    private static async Task<string> QuartzCronLatenessAsync(int schedules, TimeSpan duration, int threads = 100)
    {
        var scheduler = await NewQuartzAsync(threads);
        var job = JobBuilder.Create<CronLateJob>().WithIdentity("cron").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        for (int i = 0; i < schedules; i++)
        {
            await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).WithCronSchedule("* * * * * ?").Build());
        }

        await scheduler.Start();
        await CronWarmUpAsync();
        Settle(); // as for ours
        string result = await CronWindowAsync(duration);
        await scheduler.Shutdown(false);
        return result;
    }

    private static async Task<double> OursIdleCpuAsync(TimeSpan duration)
    {
        var (host, scheduler) = await StartOursAsync();
        await scheduler.ScheduleAsync("bench-noop", TimeProvider.System.GetUtcNow().AddHours(1));
        await Task.Delay(TimeSpan.FromSeconds(1));
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        await Task.Delay(duration);
        process.Refresh();
        double share = (process.TotalProcessorTime - cpu).TotalMilliseconds / watch.Elapsed.TotalMilliseconds;
        await host.StopAsync();
        host.Dispose();
        return share;
    }

    private static async Task<Quartz.IScheduler> NewQuartzAsync(int threads = 10)
    {
        var properties = new NameValueCollection
        {
            ["quartz.scheduler.instanceName"] = "bench-" + Guid.NewGuid().ToString("N"),
        };
        return await QuartzSchedulerBuilder.Create(q => q.UseDefaultThreadPool(threads)).UseProperties(properties).BuildScheduler();
    }

    private sealed class NoopJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            Done();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class LateJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            RecordLateness((DateTimeOffset.UtcNow - context.ScheduledFireTimeUtc!.Value).TotalMilliseconds);
            Done();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class CronLateJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            var scheduled = context.ScheduledFireTimeUtc!.Value;
            double ms = (DateTimeOffset.UtcNow - scheduled).TotalMilliseconds;
            if (InWindow(scheduled))
            {
                RecordLateness(ms);
            }

            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>The workflows the benchmarks run.</summary>
internal static class BenchWorkflows
{
    [Workflow("bench-noop")]
    public static void Noop() => SchedulerRunBenchmarks.Done();

    [Workflow("bench-late")]
    public static void Late(ScheduledRunContext run)
    {
        SchedulerRunBenchmarks.Late(run);
        SchedulerRunBenchmarks.Done();
    }

    // Registered 1,000 times under different names by the cron lateness benchmark.
    public static void EverySecond(ScheduledRunContext run) => SchedulerRunBenchmarks.Late(run);
}
