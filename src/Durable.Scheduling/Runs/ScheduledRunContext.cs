namespace Durable.Scheduling;

/// <summary>
/// What a workflow handler knows about the run it executes. Declare a parameter of this type to receive it.
/// </summary>
public sealed class ScheduledRunContext
{
    internal ScheduledRunContext(ScheduledRun run, DateTimeOffset startedAt, int attempt)
    {
        Run = run;
        StartedAt = startedAt;
        Attempt = attempt;
    }

    internal ScheduledRun Run { get; }

    /// <summary>The workflow name.</summary>
    public string WorkflowName => Run.WorkflowName;

    /// <summary>The run id.</summary>
    public Guid RunId => Run.Id;

    /// <summary>The idempotency key: the same for every attempt of this run, and never shared by another run.</summary>
    public string IdempotencyKey => Run.IdempotencyKey;

    /// <summary>The instant the run was scheduled for (UTC).</summary>
    public DateTimeOffset ScheduledTime => Run.ScheduledTime;

    /// <summary>The instant this attempt actually started (UTC), from the scheduler's <see cref="TimeProvider"/>.</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>This attempt's number, from 1.</summary>
    public int Attempt { get; }

    /// <summary>The recurring schedule that made the run (the workflow's name for a <c>[Scheduled]</c> method), or null for a one-time run.</summary>
    public string? ScheduleId => Run.ScheduleId;

    /// <summary>What created the run.</summary>
    public RunKind Kind => Run.Kind;

    /// <summary>The raw JSON input, or null.</summary>
    public string? Input => Run.Input;

    /// <summary>The run's metadata (empty when none).</summary>
    public IReadOnlyDictionary<string, string> Metadata => Run.Metadata;
}
