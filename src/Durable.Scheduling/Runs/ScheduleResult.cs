namespace Durable.Scheduling;

/// <summary>What <see cref="IScheduler.EnsureScheduledAsync"/> did.</summary>
/// <param name="Run">The stored run: the new one, or the existing run with the same idempotency key.</param>
/// <param name="Created">True when this call created it; false when the key existed (nothing was changed).</param>
public readonly record struct ScheduleResult(ScheduledRun Run, bool Created);
