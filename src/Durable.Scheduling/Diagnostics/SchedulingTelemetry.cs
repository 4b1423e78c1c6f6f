using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Durable.Scheduling.Diagnostics;

/// <summary>The one <see cref="ActivitySource"/> and one <see cref="Meter"/>, both named <c>Durable.Scheduling</c>.</summary>
internal static class SchedulingTelemetry
{
    public const string Name = "Durable.Scheduling";

    public static readonly ActivitySource ActivitySource = new(Name);

    public static readonly Meter Meter = new(Name);

    public static readonly Counter<long> RunsStarted = Meter.CreateCounter<long>("durable.scheduling.runs.started", "{run}", "Run attempts started.");

    public static readonly Counter<long> RunsSucceeded = Meter.CreateCounter<long>("durable.scheduling.runs.succeeded", "{run}", "Runs that succeeded.");

    public static readonly Counter<long> RunsFailed = Meter.CreateCounter<long>("durable.scheduling.runs.failed", "{run}", "Run attempts that failed (retried or not).");

    public static readonly Histogram<double> DispatchLag = Meter.CreateHistogram<double>("durable.scheduling.dispatch.lag", "ms", "Actual start minus scheduled (or retry) time.");

    public static readonly UpDownCounter<long> ActiveRuns = Meter.CreateUpDownCounter<long>("durable.scheduling.runs.active", "{run}", "Runs executing now.");

    public static readonly Counter<long> OccurrencesMissed = Meter.CreateCounter<long>("durable.scheduling.occurrences.missed", "{occurrence}", "Occurrences not run because of the catch-up policy, window or cap.");

    public static readonly Counter<long> OrphanedRunsFound = Meter.CreateCounter<long>("durable.scheduling.runs.orphaned", "{run}", "Pending runs of workflows this process does not define, counted by each hourly check.");

    public static readonly Counter<long> OccurrencesSkipped = Meter.CreateCounter<long>("durable.scheduling.occurrences.skipped", "{occurrence}", "Occurrences recorded as skipped by an overlap policy.");
}
