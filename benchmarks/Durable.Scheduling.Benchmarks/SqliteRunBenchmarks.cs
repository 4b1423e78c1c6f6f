using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// Durable throughput on SQLite (WAL, synchronous=FULL): bulk scheduling rate, and 10,000 / 100,000 one-time runs due
/// now from the first schedule call to the last completion; beside the raw SQLite floor on this machine (rows per
/// second in 1-row and 1,000-row transactions with the same settings). Run with <c>-- sqlite</c>.
/// </summary>
internal static class SqliteRunBenchmarks
{
    public static async Task RunAsync(string[] args)
    {
        if (args.Contains("--bulk-only"))
        {
            // Bulk scheduling alone, with and without metadata: three rounds each of 100,000 runs, alternating.
            string bulkDir = Path.Combine(Path.GetTempPath(), "durable-scheduling-bulk-" + Environment.ProcessId);
            Directory.CreateDirectory(bulkDir);
            try
            {
                await BulkScheduleAsync(Path.Combine(bulkDir, "warm-up.db"), 10_000, metadata: true);
                for (int round = 1; round <= 3; round++)
                {
                    double plain = await BulkScheduleAsync(Path.Combine(bulkDir, $"plain-{round}.db"), 100_000);
                    double tagged = await BulkScheduleAsync(Path.Combine(bulkDir, $"meta-{round}.db"), 100_000, metadata: true);
                    Console.WriteLine($"bulk, round {round}: {plain:N0} runs/s without metadata, {tagged:N0} runs/s with one pair each");
                }
            }
            finally
            {
                Directory.Delete(bulkDir, recursive: true);
            }

            return;
        }

        if (args.Contains("--floor"))
        {
            await SchemaFloorAsync();
            return;
        }

        if (args.Contains("--stop"))
        {
            await StopTimesAsync(args.SkipWhile(a => a != "--stop").Skip(1).FirstOrDefault());
            return;
        }

        bool quick = args.Contains("--quick");
        string dir = Path.Combine(Path.GetTempPath(), "durable-scheduling-bench-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            Console.WriteLine($"# SQLite benchmarks, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version}, WAL + synchronous=FULL, temp dir {Path.GetTempPath()}");
            Console.WriteLine();
            Console.WriteLine("| measure | result |");
            Console.WriteLine("|---|---|");
            Console.WriteLine($"| raw SQLite, 1-row transactions (5,000 rows) | {RawInserts(Path.Combine(dir, "raw1.db"), 5_000, 1):N0} rows/s |");
            Console.WriteLine($"| raw SQLite, 1,000-row transactions (100,000 rows) | {RawInserts(Path.Combine(dir, "raw1000.db"), 100_000, 1000):N0} rows/s |");
            await ThroughputAsync(Path.Combine(dir, "warm-up.db"), 2_000); // JIT and thread pool warm-up, not reported
            foreach (int count in quick ? new[] { 10_000 } : new[] { 10_000, 100_000 })
            {
                double bulk = await BulkScheduleAsync(Path.Combine(dir, $"bulk-{count}.db"), count);
                Console.WriteLine($"| Durable.Scheduling bulk ScheduleManyAsync, {count:N0} runs due tomorrow | {bulk:N0} runs/s |");
                double tagged = await BulkScheduleAsync(Path.Combine(dir, $"bulk-meta-{count}.db"), count, metadata: true);
                Console.WriteLine($"| Durable.Scheduling bulk ScheduleManyAsync, {count:N0} runs due tomorrow, one metadata pair each (100 values) | {tagged:N0} runs/s |");
                double durable = await ThroughputAsync(Path.Combine(dir, $"due-{count}.db"), count);
                Console.WriteLine($"| Durable.Scheduling durable throughput, {count:N0} runs due now (schedule + claim + run + complete) | {durable:N0} runs/s |");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double RawInserts(string file, int rows, int perTransaction)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using (var setup = connection.CreateCommand())
        {
            setup.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE runs (workflow TEXT NOT NULL, scheduled INTEGER NOT NULL, payload TEXT, PRIMARY KEY (workflow, scheduled)) WITHOUT ROWID;";
            setup.ExecuteNonQuery();
        }

        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO runs (workflow, scheduled, payload) VALUES ($w, $s, NULL)";
        var w = insert.Parameters.Add("$w", SqliteType.Text);
        var s = insert.Parameters.Add("$s", SqliteType.Integer);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < rows; i += perTransaction)
        {
            using var transaction = connection.BeginTransaction();
            insert.Transaction = transaction;
            for (int j = i; j < i + perTransaction && j < rows; j++)
            {
                w.Value = "bench";
                s.Value = j;
                insert.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        return rows / watch.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// <c>-- sqlite --floor</c>: what this schema costs without the library: bare SQL inserts (one prepared statement,
    /// 1,000 rows per transaction, the columns a one-time run without input or metadata fills) of 100,000 runs due
    /// tomorrow into a file whose schema the library made, three rounds; beside the same with the three indexes the
    /// lists read (by status, by workflow, in time order) dropped. The ceiling of bulk scheduling on this disk.
    /// </summary>
    private static async Task SchemaFloorAsync()
    {
        string dir = Path.Combine(Path.GetTempPath(), "durable-scheduling-floor-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            for (int round = 1; round <= 3; round++)
            {
                foreach (bool listIndexes in new[] { true, false })
                {
                    string file = Path.Combine(dir, $"floor-{round}-{listIndexes}.db");
                    using (var host = await StartAsync(file))
                    {
                        await host.Services.GetRequiredService<IScheduler>().GetAsync(Guid.Empty); // the library makes the schema
                        await host.StopAsync();
                    }

                    SqliteConnection.ClearAllPools();
                    double rate = BareInserts(file, 100_000, dropListIndexes: !listIndexes);
                    Console.WriteLine($"floor, round {round}: {rate:N0} rows/s {(listIndexes ? "with every index" : "without the three list indexes")}");
                }
            }
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double BareInserts(string file, int rows, bool dropListIndexes)
    {
        using var connection = new SqliteConnection($"Data Source={file};Pooling=False");
        connection.Open();
        using (var setup = connection.CreateCommand())
        {
            setup.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" +
                (dropListIndexes ? "DROP INDEX ds_runs_status; DROP INDEX ds_runs_workflow; DROP INDEX ds_runs_scheduled;" : "");
            setup.ExecuteNonQuery();
        }

        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO ds_runs (id, workflow, kind, idem_key, scheduled, due, status, attempt, created) VALUES ($id, 'bench-noop', 0, $key, $at, $at, 0, 0, $created) ON CONFLICT (idem_key) DO NOTHING";
        var id = insert.Parameters.Add("$id", SqliteType.Blob);
        var key = insert.Parameters.Add("$key", SqliteType.Text);
        var at = insert.Parameters.Add("$at", SqliteType.Integer);
        var created = insert.Parameters.Add("$created", SqliteType.Integer);
        insert.Prepare();
        long tomorrow = DateTimeOffset.UtcNow.AddDays(1).UtcTicks;
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < rows; i += 1000)
        {
            using var transaction = connection.BeginTransaction();
            insert.Transaction = transaction;
            for (int j = i; j < i + 1000 && j < rows; j++)
            {
                var runId = Guid.CreateVersion7();
                id.Value = runId.ToByteArray();
                key.Value = "bench-noop#" + runId.ToString("N");
                at.Value = tomorrow + (j * TimeSpan.TicksPerMillisecond);
                created.Value = tomorrow;
                insert.ExecuteNonQuery();
            }

            transaction.Commit();
        }

        return rows / watch.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// <c>-- sqlite --stop</c>: how long <c>StopAsync</c> takes on a new file and on a file of 1,000,000 pending runs,
    /// and how long the same file takes to close when opened with no host (what the store does at disposal).
    /// </summary>
    private static async Task StopTimesAsync(string? given)
    {
        string dir = Path.Combine(Path.GetTempPath(), "durable-scheduling-stop-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        try
        {
            var files = given is null ? new[] { ("new file", 0), ("new file", 0), ("1,000,000 pending runs", 1_000_000) } : new[] { ("new file", 0), ("new file", 0), ("given file", -1) };
            foreach (var (name, count) in files)
            {
                string file = Path.Combine(dir, $"stop-{count}.db");
                if (count < 0)
                {
                    // A copy of a given file (its -wal beside it, if any): a file as some other harness left it.
                    File.Copy(given!, file);
                    if (File.Exists(given + "-wal"))
                    {
                        File.Copy(given + "-wal", file + "-wal");
                    }
                }

                if (count > 0)
                {
                    using var filler = await StartAsync(file);
                    var tomorrow = TimeProvider.System.GetUtcNow().AddDays(1);
                    await filler.Services.GetRequiredService<IScheduler>().ScheduleManyAsync(Enumerable.Range(0, count).Select(i => new RunRequest("bench-noop", tomorrow.AddMilliseconds(i * 80))));
                    long walBytes = new FileInfo(file + "-wal").Length;
                    long stopping = Stopwatch.GetTimestamp();
                    await filler.StopAsync();
                    var stopTime = Stopwatch.GetElapsedTime(stopping);
                    long disposing = Stopwatch.GetTimestamp();
                    filler.Dispose();
                    Console.WriteLine($"| {name}, the host that scheduled them | | stop {stopTime.TotalMilliseconds:F0} ms | dispose {Stopwatch.GetElapsedTime(disposing).TotalMilliseconds:F0} ms | WAL {walBytes / 1024} KB before stop |");
                }

                for (int round = 0; round < 3; round++)
                {
                    long started = Stopwatch.GetTimestamp();
                    using var host = await StartAsync(file);
                    var startTime = Stopwatch.GetElapsedTime(started);
                    await host.Services.GetRequiredService<IScheduler>().GetAsync(Guid.Empty);
                    await Task.Delay(1000);
                    long stopping = Stopwatch.GetTimestamp();
                    await host.StopAsync();
                    var stopTime = Stopwatch.GetElapsedTime(stopping);
                    long disposing = Stopwatch.GetTimestamp();
                    host.Dispose();
                    Console.WriteLine($"| {name}, round {round + 1} | start {startTime.TotalMilliseconds:F0} ms | stop {stopTime.TotalMilliseconds:F0} ms | dispose {Stopwatch.GetElapsedTime(disposing).TotalMilliseconds:F0} ms | WAL {(new FileInfo(file + "-wal") is { Exists: true } wal ? wal.Length / 1024 : 0)} KB left |");
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<IHost> StartAsync(string file)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddLogging(l => l.ClearProviders());
        builder.Services.AddScheduling(o =>
        {
            o.Assemblies.Add(typeof(SqliteRunBenchmarks).Assembly);
            o.MaxConcurrency = 1000; // trivial handlers: let a claim batch be a whole store batch
        }).UseSqlite($"Data Source={file}");
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static async Task<double> BulkScheduleAsync(string file, int count, bool metadata = false)
    {
        using var host = await StartAsync(file);
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        var tomorrow = TimeProvider.System.GetUtcNow().AddDays(1);
        var tenants = Enumerable.Range(0, 100).Select(t => new Dictionary<string, string> { ["tenant"] = $"t{t}" }).ToArray();
        var requests = Enumerable.Range(0, count).Select(i => new RunRequest("bench-noop", tomorrow.AddMilliseconds(i), Metadata: metadata ? tenants[i % 100] : null)).ToList();
        await scheduler.GetAsync(Guid.Empty); // the file and schema exist before timing starts
        var watch = Stopwatch.StartNew();
        await scheduler.ScheduleManyAsync(requests);
        watch.Stop();
        await host.StopAsync();
        return count / watch.Elapsed.TotalSeconds;
    }

    private static async Task<double> ThroughputAsync(string file, int count)
    {
        using var host = await StartAsync(file);
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        SchedulerRunBenchmarks.Expect(count);
        var now = TimeProvider.System.GetUtcNow();
        var requests = Enumerable.Range(0, count).Select(_ => new RunRequest("bench-noop", now)).ToList();
        await scheduler.GetAsync(Guid.Empty); // the file and schema exist before timing starts
        var watch = Stopwatch.StartNew();
        await scheduler.ScheduleManyAsync(requests);
        await SchedulerRunBenchmarks.Finished;
        watch.Stop();
        await host.StopAsync();
        return count / watch.Elapsed.TotalSeconds;
    }
}
