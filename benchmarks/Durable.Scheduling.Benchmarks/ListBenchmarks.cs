using System.Diagnostics;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// <c>ListAsync</c> at scale (<c>-- list [--runs N] [--memory|--sqlite] [--file F]</c>): a store holding N runs (default 1,000,000)
/// made through the public storage contract, then one page of 100 for each filter below, first page and a later page
/// (the one after four continuations), in memory and on a SQLite file (WAL, synchronous=FULL).
/// </summary>
/// <remarks>
/// The runs: scheduled over 30 days (the first 21 in the past, ended; the last 9 pending), inserted in a shuffled order;
/// ten workflows, one of them rare (0.1 %); metadata <c>tenant</c> with 100 values on every run and <c>vip=yes</c> on
/// 0.1 %; ended runs succeeded but for 0.1 % failed. Each figure is the median and the worst of 15 repetitions after 3
/// unmeasured ones.
/// </remarks>
internal static class ListBenchmarks
{
    private const int Repetitions = 15;
    private static string? s_only;
    private static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Span = TimeSpan.FromDays(30);
    private static readonly DateTimeOffset Now = Start + TimeSpan.FromDays(21);

    public static async Task RunAsync(string[] args)
    {
        int runs = args.SkipWhile(a => a != "--runs").Skip(1).Select(int.Parse).DefaultIfEmpty(1_000_000).First();
        s_only = args.SkipWhile(a => a != "--only").Skip(1).FirstOrDefault(); // measure only the filters whose label holds this
        bool memory = !args.Contains("--sqlite");
        bool sqlite = !args.Contains("--memory");
        Console.WriteLine($"# ListAsync at {runs:N0} runs, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, .NET {Environment.Version}; page of 100; median / worst of {Repetitions} (ms)");
        if (memory)
        {
            var services = new ServiceCollection();
            services.AddScheduling();
            await using var provider = services.BuildServiceProvider();
            await MeasureAsync("in memory", provider.GetRequiredService<ISchedulingStore>(), runs);
        }

        if (sqlite && args.SkipWhile(a => a != "--file").Skip(1).FirstOrDefault() is { } kept)
        {
            // A file kept between runs (made on the first): filling a million runs durably takes minutes.
            var services = new ServiceCollection();
            services.AddScheduling().UseSqlite($"Data Source={kept}");
            await using var provider = services.BuildServiceProvider();
            await MeasureAsync("SQLite", provider.GetRequiredService<ISchedulingStore>(), runs, fill: !File.Exists(kept));
        }
        else if (sqlite)
        {
            string dir = Path.Combine(Path.GetTempPath(), "durable-scheduling-list-" + Environment.ProcessId);
            Directory.CreateDirectory(dir);
            try
            {
                var services = new ServiceCollection();
                services.AddScheduling().UseSqlite($"Data Source={Path.Combine(dir, "list.db")}");
                await using var provider = services.BuildServiceProvider();
                await MeasureAsync("SQLite", provider.GetRequiredService<ISchedulingStore>(), runs);
            }
            finally
            {
                Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static async Task MeasureAsync(string name, ISchedulingStore store, int runs, bool fill = true)
    {
        var watch = Stopwatch.StartNew();
        if (fill)
        {
            await FillAsync(store, runs);
        }
        else
        {
            await store.GetAsync(Guid.Empty, default); // opens (and migrates) the kept file
        }

        Console.WriteLine();
        Console.WriteLine(fill ? $"## {name}: {runs:N0} runs made in {watch.Elapsed.TotalSeconds:F1} s" : $"## {name}: kept file of {runs:N0} runs opened in {watch.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine();
        Console.WriteLine("| filter | matching runs | first page | fifth page |");
        Console.WriteLine("|---|---|---|---|");
        var day = Start + TimeSpan.FromDays(10);
        var queries = new (string Name, RunQuery Query)[]
        {
            ("none", new RunQuery()),
            ("workflow (rare, 0.1 %)", new RunQuery { WorkflowName = "rare" }),
            ("workflow (11 %)", new RunQuery { WorkflowName = "wf-3" }),
            ("status Failed (0.1 %)", new RunQuery { Statuses = [RunStatus.Failed] }),
            ("status Pending (30 %)", new RunQuery { Statuses = [RunStatus.Pending] }),
            ("status Running (none)", new RunQuery { Statuses = [RunStatus.Running] }),
            ("status Succeeded (70 %)", new RunQuery { Statuses = [RunStatus.Succeeded] }),
            ("status Failed or Pending", new RunQuery { Statuses = [RunStatus.Failed, RunStatus.Pending] }),
            ("metadata vip=yes (0.1 %)", new RunQuery { Metadata = Pairs(("vip", "yes")) }),
            ("metadata tenant=t7 (1 %)", new RunQuery { Metadata = Pairs(("tenant", "t7")) }),
            ("metadata tenant=none (no match)", new RunQuery { Metadata = Pairs(("tenant", "none")) }),
            ("time range, one hour", new RunQuery { ScheduledFrom = day, ScheduledTo = day.AddHours(1) }),
            ("workflow (11 %) + status Failed", new RunQuery { WorkflowName = "wf-3", Statuses = [RunStatus.Failed] }),
            ("workflow (rare) + status Failed", new RunQuery { WorkflowName = "rare", Statuses = [RunStatus.Failed] }),
            ("workflow (11 %) + tenant=t7", new RunQuery { WorkflowName = "wf-3", Metadata = Pairs(("tenant", "t7")) }),
            ("tenant=t7 + vip=yes", new RunQuery { Metadata = Pairs(("tenant", "t7"), ("vip", "yes")) }),
            ("status Succeeded + one day", new RunQuery { Statuses = [RunStatus.Succeeded], ScheduledFrom = day, ScheduledTo = day.AddDays(1) }),
            ("workflow (11 %) + Pending + one day", new RunQuery { WorkflowName = "wf-3", Statuses = [RunStatus.Pending], ScheduledFrom = Now.AddDays(1), ScheduledTo = Now.AddDays(2) }),
            ("status Failed + tenant=t7 + one day", new RunQuery { Statuses = [RunStatus.Failed], Metadata = Pairs(("tenant", "t7")), ScheduledFrom = day, ScheduledTo = day.AddDays(1) }),
        };
        foreach (var (label, query) in queries.Where(q => s_only is null || q.Name.Contains(s_only, StringComparison.Ordinal)))
        {
            int matching = await CountAsync(store, query);
            var first = await TimeAsync(() => store.ListAsync(query, default));
            string? token = null;
            for (int i = 0; i < 4; i++)
            {
                token = (await store.ListAsync(query with { ContinuationToken = token }, default)).ContinuationToken;
                if (token is null)
                {
                    break;
                }
            }

            string later = token is null ? "(fewer pages)" : Format(await TimeAsync(() => store.ListAsync(query with { ContinuationToken = token }, default)));
            Console.WriteLine($"| {label} | {matching:N0} | {Format(first)} | {later} |");
        }
    }

    private static async Task FillAsync(ISchedulingStore store, int count)
    {
        var random = new Random(42);
        var order = Enumerable.Range(0, count).ToArray();
        random.Shuffle(order);
        long spacing = Span.Ticks / count;
        var tenants = Enumerable.Range(0, 100).Select(t => new Dictionary<string, string> { ["tenant"] = $"t{t}" }).ToArray();
        var vips = Enumerable.Range(0, 100).Select(t => new Dictionary<string, string> { ["tenant"] = $"t{t}", ["vip"] = "yes" }).ToArray();
        const int Batch = 1_000;
        for (int b = 0; b < count; b += Batch)
        {
            var batch = new List<ScheduledRun>(Batch);
            var past = new List<(Guid Id, bool Fail)>();
            for (int j = b; j < Math.Min(count, b + Batch); j++)
            {
                int i = order[j];
                var at = Start + TimeSpan.FromTicks(spacing * i);
                var id = Guid.NewGuid();
                string workflow = i % 1000 == 500 ? "rare" : $"wf-{i % 9}";
                batch.Add(new ScheduledRun
                {
                    Id = id,
                    WorkflowName = workflow,
                    Kind = RunKind.OneTime,
                    IdempotencyKey = RunKeys.OneTime(workflow, null, id),
                    ScheduledTime = at,
                    DueTime = at,
                    Status = RunStatus.Pending,
                    Metadata = i % 1000 == 7 ? vips[i % 100] : tenants[i % 100],
                    CreatedAt = Start,
                });
                if (at < Now)
                {
                    past.Add((id, i % 1000 == 3));
                }
            }

            await store.InsertAsync(batch, default);
            if (past.Count > 0)
            {
                var leases = await store.ClaimAsync([.. past.Select(p => p.Id)], Now, TimeSpan.FromMinutes(5), "bench", default);
                var failing = past.Where(p => p.Fail).Select(p => p.Id).ToHashSet();
                await store.CompleteAsync([.. leases.Select(l => new RunCompletion(l.Run.Id, l.Token, failing.Contains(l.Run.Id) ? RunStatus.Failed : RunStatus.Succeeded, Now))], default);
            }
        }
    }

    private static async Task<int> CountAsync(ISchedulingStore store, RunQuery query)
    {
        int count = 0;
        string? token = null;
        do
        {
            var page = await store.ListAsync(query with { PageSize = 1000, ContinuationToken = token }, default);
            count += page.Items.Count;
            token = page.ContinuationToken;
        }
        while (token is not null);
        return count;
    }

    private static async Task<(double Median, double Worst)> TimeAsync(Func<ValueTask<RunPage>> list)
    {
        var times = new List<double>();
        for (int i = 0; i < Repetitions + 3; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await list();
            if (i >= 3)
            {
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }

        times.Sort();
        return (times[times.Count / 2], times[^1]);
    }

    private static string Format((double Median, double Worst) t) => $"{t.Median:F2} / {t.Worst:F2}";

    private static Dictionary<string, string> Pairs(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);
}
