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

/// <summary>A one-time workflow that takes a fifth of a second, for the test of an instance joining a busy fleet.</summary>
public sealed class PostgreSqlSlowWorkflows(RunLog log)
{
    [Workflow("pg-slow")]
    public async Task Slow(ScheduledRunContext run, CancellationToken cancellationToken)
    {
        log.Record(run);
        await Task.Delay(200, cancellationToken);
    }
}
