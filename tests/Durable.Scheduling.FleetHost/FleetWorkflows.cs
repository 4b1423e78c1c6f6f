using System.Globalization;

namespace Durable.Scheduling.FleetHost;

/// <summary>
/// Appends one line per handler event to this process's observer log (<c>path.pid</c>, one file per process):
/// <c>phase|key|pid|instance|unix ms</c>, the time from the real clock (not the instance's skewed one), flushed to
/// the OS before the handler goes on, so a SIGKILL afterwards cannot lose it.
/// </summary>
internal static class ObserverLog
{
    private static readonly Lock s_lock = new();

    public static string Path { get; set; } = "";

    public static string Instance { get; set; } = "";

    public static void Write(string phase, ScheduledRunContext run)
    {
        lock (s_lock)
        {
            using var stream = new FileStream(Path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture), FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            using var writer = new StreamWriter(stream);
            writer.Write(string.Create(CultureInfo.InvariantCulture,
                $"{phase}|{run.IdempotencyKey}|{Environment.ProcessId}|{Instance}|{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}\n"));
        }
    }
}

/// <summary>The fleet's workflows: each takes a random 0-150 ms, so disturbances often land inside a handler.</summary>
public sealed class FleetWorkflows
{
    [Scheduled("* * * * * *", Name = "fleet-every-second")]
    public static Task EverySecond(ScheduledRunContext run, CancellationToken cancellationToken) => Work(run, cancellationToken);

    [Workflow("fleet-one-time")]
    public static Task OneTime(ScheduledRunContext run, CancellationToken cancellationToken) => Work(run, cancellationToken);

    private static async Task Work(ScheduledRunContext run, CancellationToken cancellationToken)
    {
        ObserverLog.Write("start", run);
        await Task.Delay(Random.Shared.Next(150), cancellationToken);
        ObserverLog.Write("end", run);
    }
}

/// <summary>A schedule whose runs outlast its interval, under <see cref="OverlapPolicy.Skip"/>: no two may run at once on the fleet.</summary>
public sealed class FleetOverlapWorkflows
{
    [Scheduled("* * * * * *", Name = "fleet-no-overlap", Overlap = OverlapPolicy.Skip)]
    public static async Task NoOverlap(ScheduledRunContext run, CancellationToken cancellationToken)
    {
        ObserverLog.Write("start", run);
        await Task.Delay(2500, cancellationToken);
        ObserverLog.Write("end", run);
    }
}

/// <summary>The real clock moved by a fixed amount: an instance whose clock is wrong.</summary>
internal sealed class SkewedClock(TimeSpan skew) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + skew;
}
