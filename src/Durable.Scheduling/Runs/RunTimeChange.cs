namespace Durable.Scheduling;

/// <summary>A pending run to move to a new time (<see cref="IScheduler.BulkRescheduleAsync"/>).</summary>
/// <param name="Id">The run id.</param>
/// <param name="RunAt">Its new time (any offset; stored as the same instant in UTC).</param>
public readonly record struct RunTimeChange(Guid Id, DateTimeOffset RunAt);
