using System.Collections.Concurrent;
using System.Collections.Specialized;
using System.Diagnostics;
using Hangfire;
using Hangfire.InMemory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;
using Quartz.Impl;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// Recurring schedules made at run time, ours beside Quartz.NET 4.7.3 (cron triggers, RAM store) and Hangfire 1.8
/// (recurring jobs on Hangfire.InMemory), in one process run: <c>dotnet run -c Release --project
/// benchmarks/Durable.Scheduling.Benchmarks -- schedules</c> (all), or with <c>--create</c>, <c>--fire</c>,
/// <c>--start</c> for one part. Each contender runs in a fresh scheduler; memory is measured after a full
/// compacting collection.
/// </summary>
internal static class ScheduleBenchmarks
{
    private const int Created = 100_000;
    private const int WarmUp = 10_000;
    // Quartz's ADO store commits each trigger in transactions of its own: 100,000 of them one call at a time would take
    // minutes a round, so it creates this many (a rate only falls as its tables grow).
    private const int QuartzSqliteCreated = 10_000;
    // Sized for the firing measure (10,000 schedules, 5 minutes) up front, so recording allocates nothing per run
    // beyond the dictionary's nodes, and both contenders pay the same.
    private static ConcurrentDictionary<(string Schedule, long Ticks), int> s_fired = NewFired();
    private static readonly List<double> s_lateness = new(60_000);
    private static readonly List<(double Ms, DateTimeOffset At)> s_worst = new(60_000);
    private static readonly Lock s_lock = new();
    private static volatile bool s_recording;
    private static DateTimeOffset s_windowStart;
    private static DateTimeOffset s_windowEnd;
    private static TaskCompletionSource s_first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task RunAsync(string[] args)
    {
        bool all = !args.Any(a => a is "--create" or "--fire" or "--start");
        Console.WriteLine($"Schedules benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
        if (all || args.Contains("--create"))
        {
            Console.WriteLine($"\n{Created:N0} schedules with distinct cron specs, created one call at a time (SQLite: 64 concurrent callers, each create a durable commit)");
            Console.WriteLine($"each contender first creates {WarmUp:N0} in a throwaway instance (not counted: JIT and heap sizing), then three rounds, contenders alternating, each round a fresh instance");
            Console.WriteLine("| round | contender | creations/s | retained bytes per schedule |");
            Console.WriteLine("|---|---|---|---|");
            await OursCreateAsync(sqlite: false, WarmUp);
            await OursCreateAsync(sqlite: true, WarmUp);
            await QuartzCreateAsync(WarmUp);
            HangfireCreate(WarmUp);
            await QuartzSqliteCreateAsync(1_000);
            for (int round = 1; round <= 3; round++)
            {
                var (rate, bytes) = await OursCreateAsync(sqlite: false, Created);
                Console.WriteLine($"| {round} | Durable.Scheduling, in memory | {rate:N0} | {bytes:N0} |");
                (rate, bytes) = await QuartzCreateAsync(Created);
                Console.WriteLine($"| {round} | Quartz 4.7.3 cron triggers, RAM store | {rate:N0} | {bytes:N0} |");
                (rate, bytes) = HangfireCreate(Created);
                Console.WriteLine($"| {round} | Hangfire 1.8.25 recurring jobs, Hangfire.InMemory 1.0.0 | {rate:N0} | {bytes:N0} |");
                (rate, bytes) = await OursCreateAsync(sqlite: true, Created);
                Console.WriteLine($"| {round} | Durable.Scheduling, SQLite (synchronous=FULL) | {rate:N0} | {bytes:N0} (definitions on disk; in the process, the loop's compiled schedules) |");
                (rate, bytes) = await QuartzSqliteCreateAsync(QuartzSqliteCreated);
                Console.WriteLine($"| {round} | Quartz 4.7.3 cron triggers, ADO store on SQLite (WAL, synchronous=FULL), {QuartzSqliteCreated:N0} created | {rate:N0} | {bytes:N0} (in the process) |");
            }
        }

        if (all || args.Contains("--fire"))
        {
            int schedules = 10_000;
            var duration = TimeSpan.FromMinutes(args.Contains("--short") ? 1 : 5);
            Console.WriteLine($"\n{schedules:N0} schedules firing every minute (each at its own second: {schedules / 60:N0} per second), for {duration.TotalMinutes} min, real clock, 64 concurrent runs each");
            Console.WriteLine("| contender | lateness p50 / p99 / max (ms) | fire times expected | ran | missed | doubled | garbage collection meanwhile |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            Console.WriteLine($"| Durable.Scheduling, in memory | {await OursFireAsync(schedules, duration)} |");
            if (!args.Contains("--ours"))
            {
                Console.WriteLine($"| Quartz 4.7.3, RAM store, 64 threads | {await QuartzFireAsync(schedules, duration)} |");
            }
        }

        if (all || args.Contains("--start"))
        {
            Console.WriteLine($"\nA host starting on a SQLite file holding {Created:N0} schedules (plus one firing every second)");
            Console.WriteLine("| measure | value |");
            Console.WriteLine("|---|---|");
            foreach (var (name, value) in await OursStartAsync())
            {
                Console.WriteLine($"| {name} | {value} |");
            }
        }
    }

    public static void Fired(ScheduledRunContext run) => Record(run.ScheduleId ?? run.WorkflowName, run.ScheduledTime, TimeProvider.System.GetUtcNow());

    private static ConcurrentDictionary<(string Schedule, long Ticks), int> NewFired() => new(Environment.ProcessorCount, 60_000);

    public static void First() => s_first.TrySetResult();

    private static void Record(string schedule, DateTimeOffset scheduled, DateTimeOffset now)
    {
        if (!s_recording || scheduled < s_windowStart || scheduled >= s_windowEnd)
        {
            return;
        }

        s_fired.AddOrUpdate((schedule, scheduled.UtcTicks), 1, (_, n) => n + 1);
        lock (s_lock)
        {
            s_lateness.Add((now - scheduled).TotalMilliseconds);
            s_worst.Add(((now - scheduled).TotalMilliseconds, scheduled));
        }
    }

    /// <summary>The i-th distinct spec: second, minute, hour and day of week from i (604,800 distinct ones).</summary>
    private static string Cron(int i) => $"{i % 60} {i / 60 % 60} {i / 3600 % 24} * * {i / 86400 % 7}";

    private static async Task<(IHost Host, ISchedules Schedules)> StartOursAsync(Action<SchedulingBuilder>? store = null, Action<SchedulingOptions>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddLogging(l => l.ClearProviders());
        var scheduling = builder.Services.AddScheduling(o =>
        {
            o.WorkflowTypes.Add(typeof(ScheduleBenchWorkflows));
            configure?.Invoke(o);
        });
        store?.Invoke(scheduling);
        var host = builder.Build();
        await host.StartAsync();
        return (host, host.Services.GetRequiredService<ISchedules>());
    }

    /// <summary>
    /// Runs one contender's creations and measures what it retains: the managed heap (after a full compacting
    /// collection) while the contender is alive with its schedules, minus the same once it is stopped and released. So
    /// what an earlier measurement left for the collector cannot count against (or for) this one.
    /// </summary>
    private static async Task<(double Rate, double Bytes)> RetainedAsync(int count, Func<Task<(double Rate, long Alive)>> run)
    {
        var (rate, alive) = await run();
        await Task.Delay(100); // off the stack that completed the run, whose frames still hold the contender
        Settle();
        long released = GC.GetTotalMemory(true);
        return (rate, (alive - released) / (double)count);
    }

    private static Task<(double Rate, double Bytes)> OursCreateAsync(bool sqlite, int count) => RetainedAsync(count, () => OursCreateRunAsync(sqlite, count));

    private static async Task<(double Rate, long Alive)> OursCreateRunAsync(bool sqlite, int count)
    {
        string file = Path.Combine(Path.GetTempPath(), $"bench-schedules-{Guid.NewGuid():N}.db");
        var (host, schedules) = await StartOursAsync(sqlite ? b => b.UseSqlite($"Data Source={file}") : null);
        Settle();
        var watch = Stopwatch.StartNew();
        if (sqlite)
        {
            await FromCallersAsync(count, async i => await schedules.CreateAsync(new ScheduleDefinition { Id = "s" + i, WorkflowName = "bench-fired", Spec = ScheduleSpec.FromCron(Cron(i)) }));
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                await schedules.CreateAsync(new ScheduleDefinition { Id = "s" + i, WorkflowName = "bench-fired", Spec = ScheduleSpec.FromCron(Cron(i)) });
            }
        }

        double rate = count / watch.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(3)); // the loop takes the new schedules in (what it keeps counts too)
        Settle();
        long alive = GC.GetTotalMemory(true);
        await host.StopAsync();
        host.Dispose();
        DeleteFile(file);
        return (rate, alive);
    }

    private static Task<(double Rate, double Bytes)> QuartzCreateAsync(int count) => RetainedAsync(count, () => QuartzCreateRunAsync(count, sqlite: false));

    private static Task<(double Rate, double Bytes)> QuartzSqliteCreateAsync(int count) => RetainedAsync(count, () => QuartzCreateRunAsync(count, sqlite: true));

    /// <summary>
    /// Quartz's cron triggers: on its RAM store, one call at a time; or on its ADO store on SQLite, made the way ours on
    /// SQLite are (64 concurrent callers, one trigger a call).
    /// </summary>
    private static async Task<(double Rate, long Alive)> QuartzCreateRunAsync(int count, bool sqlite)
    {
        string file = Path.Combine(Path.GetTempPath(), $"bench-quartz-schedules-{Guid.NewGuid():N}.db");
        var scheduler = sqlite ? await SqlitePeerBenchmarks.NewQuartzAsync(file) : await NewQuartzAsync(10);
        await scheduler.Start();
        var job = JobBuilder.Create<QuartzFiredJob>().WithIdentity("bench").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        Settle();
        var watch = Stopwatch.StartNew();
        async Task Create(int i) => await scheduler.ScheduleJob(TriggerBuilder.Create().WithIdentity("s" + i).ForJob(job).WithCronSchedule(QuartzCron(i)).Build());
        if (sqlite)
        {
            await FromCallersAsync(count, Create);
        }
        else
        {
            for (int i = 0; i < count; i++)
            {
                await Create(i);
            }
        }

        double rate = count / watch.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(3));
        Settle();
        long alive = GC.GetTotalMemory(true);
        await scheduler.Shutdown(false);
        if (sqlite)
        {
            DeleteFile(file);
        }

        return (rate, alive);
    }

    /// <summary>Calls <paramref name="call"/> for 0 to <paramref name="count"/> - 1 from 64 concurrent callers, each taking the next number.</summary>
    private static Task FromCallersAsync(int count, Func<int, Task> call)
    {
        int next = -1;
        return Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
        {
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await call(i);
            }
        })));
    }

    /// <summary>Deletes a SQLite file with its journal files, once no pooled connection holds it.</summary>
    private static void DeleteFile(string file)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var f in Directory.GetFiles(Path.GetTempPath(), Path.GetFileName(file) + "*"))
        {
            File.Delete(f);
        }
    }

    /// <summary>Quartz's dialect: day of month '?' when day of week is given, days of week 1-7 from Sunday.</summary>
    private static string QuartzCron(int i) => $"{i % 60} {i / 60 % 60} {i / 3600 % 24} ? * {(i / 86400 % 7) + 1}";

    private static (double Rate, double Bytes) HangfireCreate(int count) => RetainedAsync(count, () => Task.FromResult(HangfireCreateRun(count))).GetAwaiter().GetResult();

    private static (double Rate, long Alive) HangfireCreateRun(int count)
    {
        Settle();
        var storage = new InMemoryStorage();
        var manager = new RecurringJobManager(storage);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            manager.AddOrUpdate("s" + i, () => ScheduleBenchWorkflows.HangfireFired(), Cron(i), new RecurringJobOptions());
        }

        double rate = count / watch.Elapsed.TotalSeconds;
        Settle();
        long alive = GC.GetTotalMemory(true);
        GC.KeepAlive(manager);
        storage.Dispose(); // its dispatcher thread would keep it (and use the CPU) in the measurements after this one
        return (rate, alive);
    }

    private static async Task<string> OursFireAsync(int schedules, TimeSpan duration)
    {
        var (host, api) = await StartOursAsync();
        for (int i = 0; i < schedules; i++)
        {
            await api.CreateAsync(new ScheduleDefinition { Id = "f" + i, WorkflowName = "bench-fired", Spec = ScheduleSpec.FromCron($"{i % 60} * * * * *") });
        }

        string result = await MeasureFiringAsync(schedules, duration, i => "f" + i);
        await host.StopAsync();
        host.Dispose();
        return result;
    }

    private static async Task<string> QuartzFireAsync(int schedules, TimeSpan duration)
    {
        var scheduler = await NewQuartzAsync(64);
        var job = JobBuilder.Create<QuartzFiredJob>().WithIdentity("bench").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        for (int i = 0; i < schedules; i++)
        {
            await scheduler.ScheduleJob(TriggerBuilder.Create().WithIdentity("q" + i).ForJob(job).WithCronSchedule($"{i % 60} * * * * ?").Build());
        }

        await scheduler.Start();
        string result = await MeasureFiringAsync(schedules, duration, i => "q" + i);
        await scheduler.Shutdown(false);
        return result;
    }

    /// <summary>
    /// After a minute's warm-up, records every run for the duration (whole minutes), then checks each schedule fired
    /// once at each of its fire times in the window.
    /// </summary>
    private static async Task<string> MeasureFiringAsync(int schedules, TimeSpan duration, Func<int, string> name)
    {
        var now = DateTimeOffset.UtcNow;
        var start = new DateTimeOffset(now.Ticks - (now.Ticks % TimeSpan.TicksPerMinute), TimeSpan.Zero).AddMinutes(2);

        // The warm-up's runs are recorded too (then dropped), so the recording's own code is compiled before the window:
        // compiled at the window's first runs, it made that second late for every contender.
        s_windowStart = DateTimeOffset.MinValue;
        s_windowEnd = start;
        s_recording = true;
        await Task.Delay(start - DateTimeOffset.UtcNow - TimeSpan.FromSeconds(3));
        s_windowStart = start; // from here on only runs with a fire time in the window count
        s_windowEnd = start + duration;
        Settle();
        s_fired = NewFired(); // not Clear(): that shrinks it to its default size, and its growth meanwhile would block the handlers recording
        lock (s_lock)
        {
            s_lateness.Clear();
            s_worst.Clear();
        }

        await Task.Delay(start - DateTimeOffset.UtcNow);
        var pause = GC.GetTotalPauseDuration();
        int gen0 = GC.CollectionCount(0), gen1 = GC.CollectionCount(1), gen2 = GC.CollectionCount(2);
        var end = start + duration;
        await Task.Delay(end - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2)); // runs of the last second finish
        s_recording = false;
        string gc = $"GC: {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2} collections (gen 0/1/2), {(GC.GetTotalPauseDuration() - pause).TotalMilliseconds:N0} ms paused";

        int expected = 0, ran = 0, missed = 0, doubled = 0;
        for (int i = 0; i < schedules; i++)
        {
            for (var minute = start; minute < end; minute = minute.AddMinutes(1))
            {
                var fire = minute.AddSeconds(i % 60);
                expected++;
                int n = s_fired.GetValueOrDefault((name(i), fire.UtcTicks));
                ran += n;
                missed += n == 0 ? 1 : 0;
                doubled += n > 1 ? 1 : 0;
            }
        }

        List<double> sorted;
        lock (s_lock)
        {
            sorted = [.. s_lateness.Order()];
        }

        double P(double p) => sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
        if (Environment.GetEnvironmentVariable("BENCH_TRACE") == "1")
        {
            lock (s_lock)
            {
                var perSecond = s_worst.GroupBy(w => w.At).Select(g => g.Max(w => w.Ms)).Order().ToList();
                Console.Error.WriteLine($"each second's last start (ms), over {perSecond.Count} seconds: p10 {perSecond[perSecond.Count / 10]:F3}, p50 {perSecond[perSecond.Count / 2]:F3}, p90 {perSecond[perSecond.Count * 9 / 10]:F3}, max {perSecond[^1]:F3}");
                Console.Error.WriteLine($"{gc}; late seconds (max, min ms): " + string.Join(", ", s_worst.GroupBy(w => w.At).Select(g => (At: g.Key, Max: g.Max(w => w.Ms), Min: g.Min(w => w.Ms))).Where(g => g.Max > 2).OrderBy(g => g.At).Select(g => $"{g.At:mm:ss} {g.Max:F1}/{g.Min:F1}")));
            }
        }

        return $"{P(0.5):F3} / {P(0.99):F3} / {(sorted.Count == 0 ? double.NaN : sorted[^1]):F3} | {expected:N0} | {ran:N0} | {missed:N0} | {doubled:N0} | {gc}";
    }

    private static async Task<List<(string, string)>> OursStartAsync()
    {
        string file = Path.Combine(Path.GetTempPath(), $"bench-start-{Guid.NewGuid():N}.db");
        var results = new List<(string, string)>();
        var (host, api) = await StartOursAsync(b => b.UseSqlite($"Data Source={file}"));
        await FromCallersAsync(Created, async i => await api.CreateAsync(new ScheduleDefinition { Id = "s" + i, WorkflowName = "bench-fired", Spec = ScheduleSpec.FromCron(Cron(i)) }));
        await api.CreateAsync(new ScheduleDefinition { Id = "every-second", WorkflowName = "bench-first", Spec = ScheduleSpec.FromCron("* * * * * *") });
        await host.StopAsync();
        host.Dispose();
        results.Add(("file size", $"{new FileInfo(file).Length / 1024.0 / 1024.0:F1} MiB"));

        for (int round = 1; round <= 3; round++)
        {
            s_first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var watch = Stopwatch.StartNew();
            var builder = Host.CreateApplicationBuilder();
            builder.Services.AddLogging(l => l.ClearProviders());
            builder.Services.AddScheduling(o => o.WorkflowTypes.Add(typeof(ScheduleBenchWorkflows))).UseSqlite($"Data Source={file}");
            var restarted = builder.Build();
            await restarted.StartAsync();
            double started = watch.Elapsed.TotalMilliseconds;
            await s_first.Task.WaitAsync(TimeSpan.FromSeconds(60));
            double firing = watch.Elapsed.TotalMilliseconds;
            results.Add(($"restart {round}: StartAsync returned / first run of the every-second schedule", $"{started:N0} ms / {firing:N0} ms"));
            await restarted.StopAsync();
            restarted.Dispose();
        }

        DeleteFile(file);
        return results;
    }

    private static void Settle()
    {
        // Until the heap stops shrinking: objects reachable only from finalizable ones (timers, native handles) go a
        // round of finalizers after them, so one collection can leave a stopped instance's whole graph standing.
        long heap = long.MaxValue;
        for (int i = 0; i < 10; i++)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            long now = GC.GetTotalMemory(false);
            if (now >= heap)
            {
                break;
            }

            heap = now;
            Thread.Sleep(50);
        }
    }

    private static async Task<Quartz.IScheduler> NewQuartzAsync(int threads)
    {
        var properties = new NameValueCollection
        {
            ["quartz.scheduler.instanceName"] = "bench-" + Guid.NewGuid().ToString("N"),
            ["quartz.jobStore.misfireThreshold"] = "60000", // a run a little late is run, not treated as misfired
        };
        return await QuartzSchedulerBuilder.Create(q => q.UseDefaultThreadPool(threads)).UseProperties(properties).BuildScheduler();
    }

    private sealed class QuartzFiredJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            Record(context.Trigger.Key.Name, context.ScheduledFireTimeUtc!.Value, DateTimeOffset.UtcNow);
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>The workflows the schedule benchmarks run.</summary>
internal static class ScheduleBenchWorkflows
{
    [Workflow("bench-fired")]
    public static void Fired(ScheduledRunContext run) => ScheduleBenchmarks.Fired(run);

    [Workflow("bench-first")]
    public static void First() => ScheduleBenchmarks.First();

    public static void HangfireFired()
    {
    }
}
