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

    /// <summary>
    /// A recurring schedule was created at <paramref name="now"/> with <paramref name="compiled"/>, its definition: as
    /// <see cref="ScheduleChanged"/>, but the loop is woken only if the schedule fires before its next regular pass
    /// would plan it anyway (so creating many schedules at once does not wake it once per schedule).
    /// </summary>
    void ScheduleCreated(Storage.StoredSchedule schedule, Durable.Scheduling.Schedules.CompiledDefinition compiled, DateTimeOffset now);
}
