namespace Durable.Scheduling.Tests.Testing;

/// <summary>Pending runs built directly, for tests that seed a store.</summary>
public static class TestRuns
{
    /// <summary>A pending one-time run (no caller key: its key derives from its id).</summary>
    public static ScheduledRun OneTime(string workflow, DateTimeOffset at, string? input = null, DateTimeOffset? createdAt = null) => new()
    {
        Id = Guid.NewGuid(),
        WorkflowName = workflow,
        Kind = RunKind.OneTime,
        ScheduledTime = at,
        DueTime = at,
        Status = RunStatus.Pending,
        Input = input,
        CreatedAt = createdAt ?? at,
    };
}
