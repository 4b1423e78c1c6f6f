namespace Durable.Scheduling.Engine.Feed;

/// <summary>A recurring schedule as the planner keeps it: its workflow and how far its occurrences exist.</summary>
internal sealed class PlannedSchedule(WorkflowDescriptor workflow)
{
    public WorkflowDescriptor Workflow { get; } = workflow;

    public RecurringSchedule Schedule => Workflow.Schedule!;

    /// <summary>True once the stored watermark was read.</summary>
    public bool Loaded { get; set; }

    /// <summary>UTC ticks: every occurrence at or before it has its run.</summary>
    public long Watermark { get; set; }
}
