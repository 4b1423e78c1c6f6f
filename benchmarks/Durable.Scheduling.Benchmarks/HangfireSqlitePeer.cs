using System.Diagnostics;
using System.Globalization;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// Hangfire 1.8 on Hangfire.Storage.SQLite, measured in a process of its own (the project
/// <c>Durable.Scheduling.Benchmarks.HangfireSqlite</c>): its sqlite-net needs SQLitePCLRaw 3, which in this process would
/// replace the SQLite provider our store runs on. Built once (Release) when its program is missing.
/// </summary>
internal sealed class HangfireSqlitePeer
{
    private const string Name = "Durable.Scheduling.Benchmarks.HangfireSqlite";
    private readonly string _program;

    private HangfireSqlitePeer(string program) => _program = program;

    public static async Task<HangfireSqlitePeer> PrepareAsync()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Durable.Scheduling.sln")))
        {
            root = root.Parent;
        }

        if (root is null)
        {
            throw new InvalidOperationException("The repository (Durable.Scheduling.sln) is not above " + AppContext.BaseDirectory);
        }

        string project = Path.Combine(root.FullName, "benchmarks", Name);
        string program = Path.Combine(project, "bin", "Release", "net10.0", Name + ".dll");
        if (!File.Exists(program))
        {
            await RunAsync("dotnet", ["build", "-c", "Release", project]);
        }

        return new HangfireSqlitePeer(program);
    }

    /// <summary>Runs one measure (see the peer's program) and returns its runs per second.</summary>
    public async Task<double> RunAsync(string mode, string file, int count, int parallel)
    {
        string output = await RunAsync("dotnet", [_program, mode, file, count.ToString(CultureInfo.InvariantCulture), parallel.ToString(CultureInfo.InvariantCulture)]);
        string? line = output.Split('\n').LastOrDefault(l => l.StartsWith("rate ", StringComparison.Ordinal));
        return line is null ? throw new InvalidOperationException("The Hangfire peer printed no rate:\n" + output) : double.Parse(line[5..], CultureInfo.InvariantCulture);
    }

    private static async Task<string> RunAsync(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0
            ? await output
            : throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}:\n{await output}{await error}");
    }
}
