using System.Collections.Specialized;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Quartz;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// Ours on SQLite beside Quartz.NET 4.7.3's ADO job store on SQLite (<c>-- sqlite-peers</c>), each on a new file in
/// WAL mode with synchronous=FULL, in the same run: bulk scheduling, one call at a time from 64 concurrent callers, and
/// durable throughput of runs due now. Ours at its defaults (64 slots); Quartz with 64 threads, batches of 64 triggers,
/// a 60 s misfire threshold, its schema made by <c>ProvisionSchema()</c>. Hangfire 1.8 on Hangfire.Storage.SQLite
/// (WAL, its default) runs in a process of its own (see <see cref="HangfireSqlitePeer"/>), with 64 callers or workers.
/// Durable throughput is measured over 50,000 runs for ours (10,000 take a third of a second, mostly the start of the
/// pipeline and code not yet optimized) and 10,000 for Quartz (ten seconds at its rate), after a warm-up of the same
/// size for each; the other measures after a small warm-up.
/// </summary>
internal static class SqlitePeerBenchmarks
{
    private const int Callers = 64;

    public static async Task RunAsync(string[] args)
    {
        int bulk = 10_000, single = 5_000, due = 50_000, quartzDue = 10_000;
        int hangfireDue = 2_000; // about a hundred runs a second: ten thousand would take minutes a round
        string dir = Path.Combine(Path.GetTempPath(), "durable-scheduling-sqlite-peers-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            Console.WriteLine($"# SQLite beside Quartz's ADO store on SQLite, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version}, WAL + synchronous=FULL");
            int n = 0;
            string NewFile() => Path.Combine(dir, $"f{n++}.db");

            // Warm-up (not reported): each path once, small.
            await OursBulkAsync(NewFile(), 1_000);
            await QuartzBulkAsync(NewFile(), 1_000);
            await OursSingleAsync(NewFile(), 500);
            await QuartzSingleAsync(NewFile(), 500);
            await OursDueAsync(NewFile(), due);
            await QuartzDueAsync(NewFile(), quartzDue);
            var hangfire = await HangfireSqlitePeer.PrepareAsync();
            await hangfire.RunAsync("single", NewFile(), 200, Callers);
            await hangfire.RunAsync("due", NewFile(), 200, Callers);

            Console.WriteLine();
            Console.WriteLine("| measure | Durable.Scheduling | Quartz ADO on SQLite | Hangfire on Hangfire.Storage.SQLite | ours ÷ Quartz | ours ÷ Hangfire |");
            Console.WriteLine("|---|---|---|---|---|---|");
            for (int round = 1; round <= 2; round++)
            {
                double ours = await OursBulkAsync(NewFile(), bulk), quartz = await QuartzBulkAsync(NewFile(), bulk);
                double hangfireRate = await hangfire.RunAsync("bulk", NewFile(), bulk, 1);
                Console.WriteLine($"| bulk scheduling, {bulk:N0} runs due tomorrow, round {round}: runs/s | {ours:N0} | {quartz:N0} | {hangfireRate:N0} (no bulk API: one call each, one caller) | {ours / quartz:F1}× | {ours / hangfireRate:F0}× |");
                ours = await OursSingleAsync(NewFile(), single);
                quartz = await QuartzSingleAsync(NewFile(), single);
                hangfireRate = await hangfire.RunAsync("single", NewFile(), single, Callers);
                Console.WriteLine($"| one call per run from {Callers} concurrent callers, {single:N0} runs, round {round}: runs/s | {ours:N0} | {quartz:N0} | {hangfireRate:N0} | {ours / quartz:F1}× | {ours / hangfireRate:F0}× |");
                ours = await OursDueAsync(NewFile(), due);
                quartz = await QuartzDueAsync(NewFile(), quartzDue);
                hangfireRate = await hangfire.RunAsync("due", NewFile(), hangfireDue, Callers);
                Console.WriteLine($"| durable throughput, runs due now (ours {due:N0}, Quartz {quartzDue:N0}, scheduled in bulk; Hangfire: {hangfireDue:N0} enqueued one call each), round {round}: runs/s | {ours:N0} | {quartz:N0} | {hangfireRate:N0} | {ours / quartz:F1}× | {ours / hangfireRate:F0}× |");
            }
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    // ---- ours -----------------------------------------------------------------------------------------------------

    private static async Task<IHost> StartOursAsync(string file)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddLogging(l => l.ClearProviders());
        builder.Services.AddScheduling(o => o.Assemblies.Add(typeof(SqlitePeerBenchmarks).Assembly)).UseSqlite($"Data Source={file}");
        var host = builder.Build();
        await host.StartAsync();
        await host.Services.GetRequiredService<IScheduler>().GetAsync(Guid.Empty); // the file and schema exist before timing
        return host;
    }

    private static async Task<double> OursBulkAsync(string file, int count)
    {
        using var host = await StartOursAsync(file);
        var tomorrow = TimeProvider.System.GetUtcNow().AddDays(1);
        var requests = Enumerable.Range(0, count).Select(i => new RunRequest("bench-noop", tomorrow.AddMilliseconds(i))).ToList();
        var watch = Stopwatch.StartNew();
        await host.Services.GetRequiredService<IScheduler>().ScheduleManyAsync(requests);
        double rate = count / watch.Elapsed.TotalSeconds;
        await host.StopAsync();
        return rate;
    }

    private static async Task<double> OursSingleAsync(string file, int count)
    {
        using var host = await StartOursAsync(file);
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        var tomorrow = TimeProvider.System.GetUtcNow().AddDays(1);
        int next = -1;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Callers).Select(_ => Task.Run(async () =>
        {
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await scheduler.ScheduleAsync("bench-noop", tomorrow.AddMilliseconds(i));
            }
        })));
        double rate = count / watch.Elapsed.TotalSeconds;
        await host.StopAsync();
        return rate;
    }

    private static async Task<double> OursDueAsync(string file, int count)
    {
        using var host = await StartOursAsync(file);
        var now = TimeProvider.System.GetUtcNow();
        var requests = Enumerable.Range(0, count).Select(_ => new RunRequest("bench-noop", now)).ToList();
        SchedulerRunBenchmarks.Expect(count);
        var watch = Stopwatch.StartNew();
        await host.Services.GetRequiredService<IScheduler>().ScheduleManyAsync(requests);
        await SchedulerRunBenchmarks.Finished;
        double rate = count / watch.Elapsed.TotalSeconds;
        await host.StopAsync();
        return rate;
    }

    // ---- Quartz ---------------------------------------------------------------------------------------------------

    internal static async Task<Quartz.IScheduler> NewQuartzAsync(string file)
    {
        // WAL is a property of the file: set before Quartz opens it (synchronous=FULL is SQLite's default).
        await using (var connection = new SqliteConnection($"Data Source={file}"))
        {
            await connection.OpenAsync();
            await using var wal = connection.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode=WAL;";
            await wal.ExecuteNonQueryAsync();
        }

        var properties = new NameValueCollection
        {
            ["quartz.scheduler.instanceName"] = "sqlite-peers-" + Guid.NewGuid().ToString("N"),
            ["quartz.scheduler.batchTriggerAcquisitionMaxCount"] = Callers.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["quartz.jobStore.misfireThreshold"] = "60000",
        };
        var scheduler = await QuartzSchedulerBuilder.Create(q =>
        {
            q.UseDefaultThreadPool(Callers);
            q.UsePersistentStore(store =>
            {
                store.UseSqlite($"Data Source={file}");
                store.UseSystemTextJsonSerializer();
                store.ProvisionSchema();
            });
        }).UseProperties(properties).BuildScheduler();
        await scheduler.GetJobGroupNames(); // schema in place before timing
        return scheduler;
    }

    private static async Task<double> QuartzBulkAsync(string file, int count)
    {
        var scheduler = await NewQuartzAsync(file);
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>();
        for (int i = 0; i < count; i++)
        {
            jobs[JobBuilder.Create<SqlitePeerNoopJob>().WithIdentity("job-" + i).Build()] = [TriggerBuilder.Create().StartAt(tomorrow.AddMilliseconds(i)).Build()];
        }

        var watch = Stopwatch.StartNew();
        await scheduler.ScheduleJobs(jobs, new ScheduleJobOptions());
        double rate = count / watch.Elapsed.TotalSeconds;
        await scheduler.Shutdown();
        return rate;
    }

    private static async Task<double> QuartzSingleAsync(string file, int count)
    {
        var scheduler = await NewQuartzAsync(file);
        var job = JobBuilder.Create<SqlitePeerNoopJob>().WithIdentity("noop").StoreDurably().Build();
        await scheduler.AddJob(job, AddJobOptions.Replacing);
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        int next = -1;
        var watch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, Callers).Select(_ => Task.Run(async () =>
        {
            for (int i = Interlocked.Increment(ref next); i < count; i = Interlocked.Increment(ref next))
            {
                await scheduler.ScheduleJob(TriggerBuilder.Create().ForJob(job).StartAt(tomorrow.AddMilliseconds(i)).Build());
            }
        })));
        double rate = count / watch.Elapsed.TotalSeconds;
        await scheduler.Shutdown();
        return rate;
    }

    private static async Task<double> QuartzDueAsync(string file, int count)
    {
        var scheduler = await NewQuartzAsync(file);
        await scheduler.Start();
        var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>();
        for (int i = 0; i < count; i++)
        {
            jobs[JobBuilder.Create<SqlitePeerNoopJob>().WithIdentity("job-" + i).Build()] = [TriggerBuilder.Create().StartNow().Build()];
        }

        SchedulerRunBenchmarks.Expect(count);
        var watch = Stopwatch.StartNew();
        await scheduler.ScheduleJobs(jobs, new ScheduleJobOptions());
        await SchedulerRunBenchmarks.Finished;
        double rate = count / watch.Elapsed.TotalSeconds;
        await scheduler.Shutdown(waitForJobsToComplete: false);
        return rate;
    }

    private sealed class SqlitePeerNoopJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            SchedulerRunBenchmarks.Done();
            return ValueTask.CompletedTask;
        }
    }
}
