using Durable.Scheduling.Tests.Testing;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>Workflows of the in-process multi-instance tests; each host records into its own <see cref="RunLog"/>.</summary>
public sealed class PostgreSqlFleetWorkflows(RunLog log)
{
    [Workflow("pg-once")]
    public void Once(ScheduledRunContext run) => log.Record(run);

    [Scheduled("* * * * * *", Name = "pg-every-second")]
    public void EverySecond(ScheduledRunContext run) => log.Record(run);
}

/// <summary>A one-time workflow only (no schedule), for the wake-up test.</summary>
public sealed class PostgreSqlWakeWorkflows(RunLog log)
{
    [Workflow("pg-wake")]
    public void Wake(ScheduledRunContext run) => log.Record(run);
}
