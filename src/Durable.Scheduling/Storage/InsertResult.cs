namespace Durable.Scheduling.Storage;

/// <summary>The outcome of inserting one run.</summary>
/// <param name="Run">The stored run: the new one, or the existing run with the same idempotency key.</param>
/// <param name="Created">True when this call created it.</param>
public readonly record struct InsertResult(ScheduledRun Run, bool Created);
