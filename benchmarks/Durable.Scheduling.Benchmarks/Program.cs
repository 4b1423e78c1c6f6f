using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;

namespace Durable.Scheduling.Benchmarks;

internal static class Program
{
    /// <summary>
    /// <c>dotnet run -c Release --project benchmarks/Durable.Scheduling.Benchmarks -- --filter *Cron*</c> runs the
    /// BenchmarkDotNet suites; <c>-- scheduler</c>, <c>-- sqlite</c>, <c>-- postgres</c>, <c>-- schedules</c>, <c>-- list</c>, <c>-- peers</c> and <c>-- sqlite-peers</c> run the end-to-end harnesses.
    /// </summary>
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "scheduler")
        {
            await SchedulerRunBenchmarks.RunAsync(args);
            return 0;
        }

        if (args.Length > 0 && args[0] == "postgres")
        {
            await PostgreSqlRunBenchmarks.RunAsync(args);
            return 0;
        }

        if (args.Length > 0 && args[0] == "schedules")
        {
            await ScheduleBenchmarks.RunAsync(args);
            return 0;
        }

        if (args.Length > 0 && args[0] == "sqlite-peers")
        {
            await SqlitePeerBenchmarks.RunAsync(args);
            return 0;
        }

        if (args.Length > 0 && args[0] == "peers")
        {
            await PeerThroughputBenchmarks.RunAsync(args);
            return 0;
        }

        if (args.Length > 0 && args[0] == "list")
        {
            await ListBenchmarks.RunAsync(args);
            return 0;
        }

        if (args.Length > 0 && args[0] == "sqlite")
        {
            await SqliteRunBenchmarks.RunAsync(args);
            return 0;
        }

        var config = DefaultConfig.Instance.AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10).WithLaunchCount(1).AsDefault());
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }
}
