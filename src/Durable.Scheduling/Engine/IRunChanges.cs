namespace Durable.Scheduling.Engine;

/// <summary>What the scheduler API tells the engine about runs it changed in the store (the only way in).</summary>
internal interface IRunChanges
{
    /// <summary>A run was created, rescheduled or retried (the loop loads it if it falls due soon).</summary>
    void Added(ScheduledRun run);

    /// <summary>A run was created at <paramref name="now"/>: told only if it falls due before the next feed would load it anyway.</summary>
    void Created(ScheduledRun run, DateTimeOffset now);

    /// <summary>A run was deleted (the loop drops it).</summary>
    void Removed(Guid id);

    /// <summary>
    /// A recurring schedule was created, changed or deleted in this process (applied before the loop's next admission);
    /// <paramref name="compiled"/> is its definition as the caller already read it, when it did.
    /// </summary>
    void ScheduleChanged(Storage.StoredSchedule schedule, Durable.Scheduling.Schedules.CompiledDefinition? compiled = null);
}
