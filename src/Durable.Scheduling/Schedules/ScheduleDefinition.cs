namespace Durable.Scheduling;

/// <summary>
/// What a recurring schedule runs and when: the part of a schedule its owner writes (create, create-or-update, update).
/// Immutable; change it with <c>with</c>.
/// </summary>
public sealed record ScheduleDefinition
{
    /// <summary>
    /// The schedule id: 1 to 200 characters, unique in the store, without control characters or <c>@ ! # ~</c> (the
    /// separators of run keys, so an occurrence's key never equals a trigger's). Code-defined schedules use their
    /// workflow's name.
    /// </summary>
    public required string Id { get; init; }

    /// <summary>The workflow each occurrence runs (a <c>[Workflow]</c> or <c>[Scheduled]</c> method's name).</summary>
    public required string WorkflowName { get; init; }

    /// <summary>When it fires.</summary>
    public required ScheduleSpec Spec { get; init; }

    /// <summary>
    /// The input every run gets: an instance of the workflow's input type, or a <see cref="System.Text.Json.JsonElement"/>
    /// holding its JSON (what a described schedule carries); null for none. Checked against the workflow at the call.
    /// </summary>
    public object? Input { get; init; }

    /// <summary>Metadata copied to every run (and filterable in lists); default none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = System.Collections.ObjectModel.ReadOnlyDictionary<string, string>.Empty;

    /// <summary>What happens to occurrences missed while nothing ran them (downtime, or a pause); default <see cref="CatchUpPolicy.ExactlyOncePerInterval"/>.</summary>
    public CatchUpPolicy CatchUp { get; init; } = CatchUpPolicy.ExactlyOncePerInterval;

    /// <summary>How far back missed occurrences are caught up; null: <see cref="SchedulingOptions.CatchUpWindow"/>.</summary>
    public TimeSpan? CatchUpWindow { get; init; }

    /// <summary>What happens when an occurrence comes due while a run of this schedule is active; default <see cref="OverlapPolicy.AllowAll"/>.</summary>
    public OverlapPolicy Overlap { get; init; } = OverlapPolicy.AllowAll;

    /// <summary>
    /// The most occurrences the schedule will create (triggers and backfills not counted); null: no limit. Once they are
    /// used up the schedule stays, paused by nothing, but fires no more (its description shows zero remaining).
    /// </summary>
    public long? MaxRuns { get; init; }
}
