using System.Diagnostics;
using System.Text;

namespace Durable.Scheduling.Tests.Packaging;

/// <summary>The repository the tests run from, and a way to run the dotnet CLI in it.</summary>
internal static class RepositoryRoot
{
    public static string Path { get; } = Find();

    /// <summary>Runs <c>dotnet</c> with the arguments; returns its exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> DotnetAsync(string workingDirectory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not finish within {timeout}:\n{output}");
        }

        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }

        void Append(string? line)
        {
            if (line is not null)
            {
                lock (output)
                {
                    output.AppendLine(line);
                }
            }
        }
    }

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Durable.Scheduling.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (Durable.Scheduling.sln) is not above " + AppContext.BaseDirectory);
    }
}
