using Durable.Scheduling;

namespace Durable.Scheduling.CrashHost;

/// <summary>
/// Appends one line per event to this process's observer log (<c>path.pid</c>: one file per process, because two
/// processes appending to one file through .NET can overwrite each other's lines), flushed to the OS before the handler
/// goes on, so a SIGKILL afterwards cannot lose it.
/// </summary>
internal static class ObserverLog
{
    private static readonly Lock s_lock = new();

    public static string Path { get; set; } = "";

    public static void Write(string phase, ScheduledRunContext run)
    {
        lock (s_lock)
        {
            using var stream = new FileStream(Path + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            using var writer = new StreamWriter(stream);
            writer.Write($"{phase}|{run.IdempotencyKey}|{Environment.ProcessId}\n");
        }
    }
}

/// <summary>The crash host's workflows: each takes a random 0-150 ms, so kills often land inside a handler.</summary>
public sealed class CrashWorkflows
{
    [Scheduled("* * * * * *", Name = "crash-every-second")]
    public static Task EverySecond(ScheduledRunContext run, CancellationToken cancellationToken) => Work(run, cancellationToken);

    [Workflow("crash-one-time")]
    public static Task OneTime(ScheduledRunContext run, CancellationToken cancellationToken) => Work(run, cancellationToken);

    /// <summary>Takes 4 s, so a test can pause the process in the middle of it.</summary>
    [Workflow("crash-slow")]
    public static async Task Slow(ScheduledRunContext run, CancellationToken cancellationToken)
    {
        ObserverLog.Write("start", run);
        await Task.Delay(TimeSpan.FromSeconds(4), cancellationToken);
        ObserverLog.Write("end", run);
    }

    private static async Task Work(ScheduledRunContext run, CancellationToken cancellationToken)
    {
        ObserverLog.Write("start", run);
        await Task.Delay(Random.Shared.Next(150), cancellationToken);
        ObserverLog.Write("end", run);
    }
}
