using Durable.Scheduling.Cron;
using System.Reflection;

namespace Durable.Scheduling;

/// <summary>A discovered workflow: its name, how to invoke it, and its recurring schedule if any.</summary>
internal sealed class WorkflowDescriptor
{
    public required string Name { get; init; }

    public required MethodInfo Method { get; init; }

    public required WorkflowInvoker Invoker { get; init; }

    public TimeSpan? Timeout { get; init; }

    public int MaxAttempts { get; init; }

    public TimeSpan RetryDelay { get; init; }

    /// <summary>The recurring schedule, or null for a workflow run only by one-time runs.</summary>
    public RecurringSchedule? Schedule { get; init; }
}

/// <summary>
/// A code-defined recurring schedule (stored as the schedule named after its workflow). An interval schedule's first run
/// is immediate: its phase is set when the schedule is first stored.
/// </summary>
internal sealed record RecurringSchedule(ScheduleSpec Spec, CatchUpPolicy CatchUp, OverlapPolicy Overlap, bool IsInterval);
