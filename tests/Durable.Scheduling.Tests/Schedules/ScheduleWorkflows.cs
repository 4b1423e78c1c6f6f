using Durable.Scheduling.Tests.Testing;

namespace Durable.Scheduling.Tests.Schedules;

public sealed record ReportInput(string Region, int Day);

/// <summary>Workflows that recurring schedules made at run time point at, and two code-defined schedules.</summary>
public sealed class ScheduleWorkflows(RunLog log, TimeProvider time)
{
    [Workflow("tick")]
    public void Tick(ScheduledRunContext run) => log.Record(run);

    [Workflow("report")]
    public void Report(ReportInput input, ScheduledRunContext run) => log.Record(run, input);

    /// <summary>Runs 25 s of fake time: longer than a 10-second interval.</summary>
    [Workflow("slow-tick")]
    public async Task SlowTick(ScheduledRunContext run, CancellationToken ct)
    {
        log.Record(run);
        await log.ParkAsync(TimeSpan.FromSeconds(25), time, ct);
    }
}

public sealed class CodeDefinedSchedules(RunLog log)
{
    [Scheduled(Interval = "5m", Name = "code-interval")]
    public void EveryFiveMinutes(ScheduledRunContext run) => log.Record(run);

    [Scheduled("0 0 * * * *", Name = "code-hourly")]
    public void Hourly(ScheduledRunContext run) => log.Record(run);
}

/// <summary>What an earlier version of the code said: <c>code-hourly</c> every seven seconds, <c>code-interval</c> every minute.</summary>
public sealed class CodeDefinedSchedulesEarlier(RunLog log)
{
    [Scheduled(Interval = "1m", Name = "code-interval")]
    public void EveryMinute(ScheduledRunContext run) => log.Record(run);

    [Scheduled("*/7 * * * * *", Name = "code-hourly")]
    public void Hourly(ScheduledRunContext run) => log.Record(run);
}
