using System.Collections.Specialized;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Hangfire;
using Hangfire.PostgreSql;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Quartz;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// Durable throughput on PostgreSQL, ours beside Hangfire 1.8 (Hangfire.PostgreSql) and Quartz.NET 4.7.3 (ADO store,
/// clustered), in one run on one local server with <c>fsync=on</c> and <c>synchronous_commit=on</c>: bulk scheduling,
/// runs due now executed by 1 and by 3 instances (in this process, each with its own connection pool; every contender
/// gets 64 workers per instance, our default <c>MaxConcurrency</c>), and the lateness of runs scheduled on one instance
/// and due a second later, started on any of three. Each measurement gets a fresh database. Run with <c>-- postgres</c>;
/// the server comes from <c>DURABLE_SCHEDULING_POSTGRES</c> or is started here (initdb + pg_ctl, as <c>postgres</c> when root).
/// <c>-- postgres --lateness</c> and <c>-- postgres --throughput</c> run only ours, for those figures (one instance and
/// three; 64 and 1,000 slots); <c>BENCH_TRACE=1</c> prints each run later than 100 ms.
/// </summary>
internal static class PostgreSqlRunBenchmarks
{
    private const int Workers = 64;
    private static readonly List<double> s_lateness = [];
    private static int s_done;
    private static int s_target;
    private static TaskCompletionSource s_finished = new();

    public static async Task RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        int ours = quick ? 20_000 : 100_000;
        int peers = quick ? 500 : 2_000;
        using var server = await BenchServer.StartAsync();
        string version = (string)(await server.ScalarAsync("SELECT version()"))!;
        Console.WriteLine($"# PostgreSQL benchmarks, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine($"# server: {version.Split(',')[0]}, fsync={await server.ScalarAsync("SHOW fsync")}, synchronous_commit={await server.ScalarAsync("SHOW synchronous_commit")}, on this machine (loopback)");
        Console.WriteLine($"# {Workers} workers per instance for every contender; ours {ours:N0} runs, peers {peers:N0} (they take minutes for more)");
        Console.WriteLine();

        if (args.Contains("--throughput"))
        {
            await OursThroughputAsync(server, 2_000, 1);
            foreach (int concurrency in new[] { 64, 1000 })
            {
                foreach (int n in new[] { 1, 3 })
                {
                    Console.WriteLine($"throughput {n} instance(s), MaxConcurrency {concurrency}: {await OursThroughputAsync(server, ours, n, concurrency):N0} runs/s");
                }
            }

            return;
        }

        if (args.Contains("--lateness"))
        {
            foreach (int n in new[] { 1, 3 })
            {
                Console.WriteLine($"lateness {n} instance(s): {await OursLatenessAsync(server, 1000, n)}");
            }

            return;
        }

        await OursThroughputAsync(server, 2_000, 1); // JIT, pools and the server's caches warm, not reported
        Console.WriteLine("| measure | Durable.Scheduling | Hangfire 1.8.25 (Hangfire.PostgreSql 1.21.1) | Quartz 4.7.3 (ADO, clustered) |");
        Console.WriteLine("|---|---|---|---|");

        // Lateness first, before any peer has run in this process (their servers leave threads and timers behind).
        Console.WriteLine($"| lateness p50 / p99 / max (ms), 1,000 runs each due 1 s after it was scheduled on one instance, over about 10 s, 3 instances executing | {await OursLatenessAsync(server, 1000, 3)} | | |");
        Console.WriteLine($"| bulk scheduling, runs due tomorrow | {await OursBulkAsync(server, ours):N0} runs/s ({ours:N0}, one ScheduleManyAsync) | {await HangfireBulkAsync(server, peers):N0} runs/s ({peers:N0}, one call each: no bulk API) | {await QuartzBulkAsync(server, peers):N0} runs/s ({peers:N0}, one ScheduleJobs) |");
        foreach (int instances in new[] { 1, 3 })
        {
            Console.WriteLine($"| durable throughput, runs due now, {instances} instance{(instances > 1 ? "s" : "")}, {Workers} workers each (schedule + claim + run + complete) | {await OursThroughputAsync(server, ours, instances):N0} runs/s ({ours:N0}) | {await HangfireThroughputAsync(server, peers, instances):N0} runs/s ({peers:N0}) | {await QuartzThroughputAsync(server, peers, instances):N0} runs/s ({peers:N0}) |");
        }

        foreach (int instances in new[] { 1, 3 })
        {
            Console.WriteLine($"| durable throughput, runs due now, {instances} instance{(instances > 1 ? "s" : "")}, MaxConcurrency 1,000 (slots, not threads: peers have no such setting) | {await OursThroughputAsync(server, ours, instances, 1000):N0} runs/s ({ours:N0}) | | |");
        }

    }

    // ---- ours ---------------------------------------------------------------------------------------------------

    private static async Task<List<IHost>> StartOursAsync(string connectionString, int instances, int maxConcurrency = Workers)
    {
        var hosts = new List<IHost>();
        for (int i = 0; i < instances; i++)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Services.AddLogging(l => l.ClearProviders());
            builder.Services.AddScheduling(o =>
            {
                o.Assemblies.Add(typeof(PostgreSqlRunBenchmarks).Assembly);
                o.MaxConcurrency = maxConcurrency;
            }).UsePostgreSql(connectionString);
            var host = builder.Build();
            await host.StartAsync();
            hosts.Add(host);
        }

        return hosts;
    }

    private static async Task StopAsync(List<IHost> hosts)
    {
        foreach (var host in hosts)
        {
            await host.StopAsync();
            host.Dispose();
        }
    }

    private static async Task<double> OursBulkAsync(BenchServer server, int count)
    {
        var hosts = await StartOursAsync(await server.NewDatabaseAsync(), 1);
        var scheduler = hosts[0].Services.GetRequiredService<IScheduler>();
        await scheduler.GetAsync(Guid.Empty); // schema in place before timing
        var tomorrow = TimeProvider.System.GetUtcNow().AddDays(1);
        var requests = Enumerable.Range(0, count).Select(i => new RunRequest("bench-noop", tomorrow.AddMilliseconds(i))).ToList();
        var watch = Stopwatch.StartNew();
        await scheduler.ScheduleManyAsync(requests);
        watch.Stop();
        await StopAsync(hosts);
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> OursThroughputAsync(BenchServer server, int count, int instances, int maxConcurrency = Workers)
    {
        string database = await server.NewDatabaseAsync();
        var hosts = await StartOursAsync(database, instances, maxConcurrency);
        var scheduler = hosts[0].Services.GetRequiredService<IScheduler>();
        await scheduler.GetAsync(Guid.Empty);
        SchedulerRunBenchmarks.Expect(count);
        var now = TimeProvider.System.GetUtcNow();
        var requests = Enumerable.Range(0, count).Select(_ => new RunRequest("bench-noop", now)).ToList();
        var watch = Stopwatch.StartNew();
        await scheduler.ScheduleManyAsync(requests);
        await SchedulerRunBenchmarks.Finished;
        watch.Stop();
        await StopAsync(hosts);
        await server.PrintStatementsAsync(database);
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<string> OursLatenessAsync(BenchServer server, int count, int instances)
    {
        var hosts = await StartOursAsync(await server.NewDatabaseAsync(), instances);
        var scheduler = hosts[0].Services.GetRequiredService<IScheduler>();
        await scheduler.GetAsync(Guid.Empty);
        // The first round warms up and is not reported: a fresh process's first runs pay for compiling the claim, start
        // and notification paths, and for growing the thread pool (a short warm-up left the first measurement in a
        // process visibly later than the next).
        foreach (int runs in new[] { 1000, count })
        {
            if (runs == count)
            {
                // Measured on a collected heap, as the in-memory harness does: the earlier measurements' garbage is
                // not collected during the runs.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                GC.WaitForPendingFinalizers();
            }

            // Each run is due one second after the call that schedules it (so it is never scheduled late, however long
            // a durable insert takes), the calls paced over about ten seconds.
            Reset(runs);
            for (int i = 0; i < runs; i++)
            {
                await scheduler.ScheduleAsync("bench-pg-late", TimeProvider.System.GetUtcNow().AddSeconds(1));
                await Task.Delay(runs == count ? 10 : 2); // measured: over about 10 s; warm-up: as fast as it goes
            }

            await s_finished.Task;
        }

        await StopAsync(hosts);
        return Percentiles();
    }

    // ---- Hangfire -----------------------------------------------------------------------------------------------

    private static PostgreSqlStorage HangfireStorage(string connectionString) =>
        new(new Hangfire.PostgreSql.Factories.NpgsqlConnectionFactory(connectionString, new PostgreSqlStorageOptions()), new PostgreSqlStorageOptions
        {
            PrepareSchemaIfNecessary = true,
            QueuePollInterval = TimeSpan.FromMilliseconds(100), // tuned: the default polls an empty queue every 15 s
        });

    /// <summary>
    /// Hangfire has no bulk API: one call per job, from one caller, its fastest here (8 concurrent callers were slower,
    /// 64 far slower: its storage serializes job creation).
    /// </summary>
    private static async Task<double> HangfireBulkAsync(BenchServer server, int count, int callers = 1)
    {
        var storage = HangfireStorage(await server.NewDatabaseAsync());
        var client = new BackgroundJobClient(storage);
        client.Schedule(() => HangfireJobs.Noop(), TimeSpan.FromDays(1)); // schema in place before timing
        var watch = Stopwatch.StartNew();
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = callers }, (_, _) =>
        {
            client.Schedule(() => HangfireJobs.Noop(), TimeSpan.FromDays(1));
            return ValueTask.CompletedTask;
        });
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> HangfireThroughputAsync(BenchServer server, int count, int instances)
    {
        var storage = HangfireStorage(await server.NewDatabaseAsync());
        var servers = Enumerable.Range(0, instances)
            .Select(i => new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = Workers, ServerName = "bench-" + i }, storage))
            .ToList();
        await Task.Delay(1000); // servers registered and polling
        SchedulerRunBenchmarks.Expect(count);
        var client = new BackgroundJobClient(storage);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            client.Enqueue(() => HangfireJobs.Noop()); // one caller: its fastest (see HangfireBulkAsync)
        }

        await SchedulerRunBenchmarks.Finished;
        watch.Stop();
        foreach (var s in servers)
        {
            s.SendStop();
        }

        foreach (var s in servers)
        {
            s.Dispose();
        }

        return count / watch.Elapsed.TotalSeconds;
    }

    // ---- Quartz -------------------------------------------------------------------------------------------------

    private static async Task<Quartz.IScheduler> NewQuartzAsync(string connectionString, string instanceId)
    {
        var properties = new NameValueCollection
        {
            ["quartz.scheduler.instanceName"] = "bench",
            ["quartz.scheduler.instanceId"] = instanceId,
            ["quartz.scheduler.batchTriggerAcquisitionMaxCount"] = Workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["quartz.jobStore.misfireThreshold"] = "60000",
        };
        return await QuartzSchedulerBuilder.Create(q =>
        {
            q.UseDefaultThreadPool(Workers);
            q.UsePersistentStore(store =>
            {
                store.UsePostgres(NpgsqlFactory.Instance, connectionString);
                store.UseSystemTextJsonSerializer();
                store.UseClustering();
                store.ProvisionSchema();
            });
        }).UseProperties(properties).BuildScheduler();
    }

    private static async Task<double> QuartzBulkAsync(BenchServer server, int count)
    {
        var scheduler = await NewQuartzAsync(await server.NewDatabaseAsync(), "bulk");
        await scheduler.GetJobGroupNames(); // schema in place before timing
        var tomorrow = DateTimeOffset.UtcNow.AddDays(1);
        var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>();
        for (int i = 0; i < count; i++)
        {
            var job = JobBuilder.Create<QuartzNoopJob>().WithIdentity("job-" + i).Build();
            jobs[job] = [TriggerBuilder.Create().StartAt(tomorrow.AddMilliseconds(i)).Build()];
        }

        var watch = Stopwatch.StartNew();
        await scheduler.ScheduleJobs(jobs, new ScheduleJobOptions());
        watch.Stop();
        await scheduler.Shutdown();
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> QuartzThroughputAsync(BenchServer server, int count, int instances)
    {
        string connectionString = await server.NewDatabaseAsync();
        var schedulers = new List<Quartz.IScheduler>();
        for (int i = 0; i < instances; i++)
        {
            schedulers.Add(await NewQuartzAsync(connectionString, "i" + i));
        }

        foreach (var s in schedulers)
        {
            await s.Start();
        }

        SchedulerRunBenchmarks.Expect(count);
        var jobs = new Dictionary<IJobDetail, IReadOnlyCollection<ITrigger>>();
        for (int i = 0; i < count; i++)
        {
            var job = JobBuilder.Create<QuartzNoopJob>().WithIdentity("job-" + i).Build();
            jobs[job] = [TriggerBuilder.Create().StartNow().Build()];
        }

        var watch = Stopwatch.StartNew();
        await schedulers[0].ScheduleJobs(jobs, new ScheduleJobOptions());
        await SchedulerRunBenchmarks.Finished;
        watch.Stop();
        foreach (var s in schedulers)
        {
            await s.Shutdown(waitForJobsToComplete: false);
        }

        return count / watch.Elapsed.TotalSeconds;
    }

    // ---- lateness -----------------------------------------------------------------------------------------------

    public static void Late(ScheduledRunContext run)
    {
        double ms = (TimeProvider.System.GetUtcNow() - run.ScheduledTime).TotalMilliseconds;
        if (ms > 100 && Environment.GetEnvironmentVariable("BENCH_TRACE") == "1")
        {
            Console.WriteLine($"late {ms:F0} ms: {run.RunId} attempt {run.Attempt} scheduled {run.ScheduledTime:HH:mm:ss.fff}");
        }

        lock (s_lateness)
        {
            s_lateness.Add(ms);
        }

        if (Interlocked.Increment(ref s_done) == s_target)
        {
            s_finished.TrySetResult();
        }
    }

    private static void Reset(int target)
    {
        lock (s_lateness)
        {
            s_lateness.Clear();
        }

        s_done = 0;
        s_target = target;
        s_finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private static string Percentiles()
    {
        List<double> sorted;
        lock (s_lateness)
        {
            sorted = [.. s_lateness.Order()];
        }

        double P(double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
        return $"{P(0.5):F3} / {P(0.99):F3} / {sorted[^1]:F3}";
    }

    private sealed class QuartzNoopJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken)
        {
            SchedulerRunBenchmarks.Done();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Hangfire's job for the benchmark (public: Hangfire serializes the call).</summary>
public static class HangfireJobs
{
    public static void Noop() => SchedulerRunBenchmarks.Done();
}

/// <summary>The benchmark's lateness workflow on PostgreSQL.</summary>
internal static class PostgreSqlBenchWorkflows
{
    [Workflow("bench-pg-late")]
    public static void Late(ScheduledRunContext run) => PostgreSqlRunBenchmarks.Late(run);
}

/// <summary>The benchmark's server: from DURABLE_SCHEDULING_POSTGRES, or started here with durable settings.</summary>
internal sealed class BenchServer : IDisposable
{
    private readonly string? _data;
    private readonly string? _bin;
    private readonly bool _root;
    private int _databases;

    private BenchServer(string connectionString, string? data, string? bin, bool root)
    {
        ConnectionString = connectionString;
        _data = data;
        _bin = bin;
        _root = root;
    }

    public string ConnectionString { get; }

    /// <summary>With <c>BENCH_PG_STATEMENTS=1</c> the server tracks statements and each throughput figure is followed by the costliest.</summary>
    public static bool Statements { get; } = Environment.GetEnvironmentVariable("BENCH_PG_STATEMENTS") == "1";

    /// <summary>Prints the statements that took the server's time in <paramref name="connectionString"/>'s database, then forgets them.</summary>
    public async Task PrintStatementsAsync(string connectionString)
    {
        if (!Statements)
        {
            return;
        }

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var create = new NpgsqlCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using var command = new NpgsqlCommand(
            "SELECT calls, rows, round(total_exec_time::numeric, 0), round(total_plan_time::numeric, 0), left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total_exec_time DESC LIMIT 12", connection);
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                Console.WriteLine($"    {reader.GetInt64(0),8} calls {reader.GetInt64(1),8} rows {reader.GetDecimal(2),7} ms exec {reader.GetDecimal(3),6} ms plan  {reader.GetString(4)}");
            }
        }

        await using var reset = new NpgsqlCommand("SELECT pg_stat_statements_reset()", connection);
        await reset.ExecuteNonQueryAsync();
    }

    public static async Task<BenchServer> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("DURABLE_SCHEDULING_POSTGRES") is { Length: > 0 } outside)
        {
            return new BenchServer(outside, null, null, false);
        }

        string bin = Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin")).First(d => File.Exists(Path.Combine(d, "initdb")));
        bool root = Environment.UserName == "root";
        string data = Path.Combine(Path.GetTempPath(), "ds-bench-pg-" + Environment.ProcessId);
        Directory.CreateDirectory(data);
        if (root)
        {
            await RunAsync("chown", ["postgres:postgres", data], false);
        }

        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        await RunAsync(Path.Combine(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8"], root);
        await RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(data, "server.log"), "-o",
            $"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c max_connections=500 -c shared_buffers=512MB" + (Statements ? " -c shared_preload_libraries=pg_stat_statements" : ""), "-w", "start"], root);
        return new BenchServer($"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Maximum Pool Size=100", data, bin, root);
    }

    public async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    /// <summary>
    /// A fresh database for one measurement (so no contender reads another's tables or bloat), on a checkpointed
    /// server with the databases of earlier measurements dropped (so no measurement pays for flushing or vacuuming
    /// what the ones before wrote).
    /// </summary>
    public async Task<string> NewDatabaseAsync()
    {
        for (int earlier = 1; earlier <= _databases; earlier++)
        {
            await ScalarAsync($"DROP DATABASE IF EXISTS bench_{Environment.ProcessId}_{earlier} WITH (FORCE)");
        }

        string name = $"bench_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}";
        await ScalarAsync($"CREATE DATABASE {name}");
        await ScalarAsync("CHECKPOINT");
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    private static async Task RunAsync(string program, string[] args, bool asPostgres)
    {
        var info = new ProcessStartInfo(asPostgres ? "runuser" : program) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", program })
            {
                info.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        string error = await process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} failed: {error}");
        }
    }

    public void Dispose()
    {
        if (_data is null)
        {
            return;
        }

        RunAsync(Path.Combine(_bin!, "pg_ctl"), ["-D", _data, "-m", "fast", "-w", "stop"], _root).GetAwaiter().GetResult();
        Directory.Delete(_data, recursive: true);
    }
}
