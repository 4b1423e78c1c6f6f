namespace Durable.Scheduling.Storage;

/// <summary>A claimed run and the lease that fences its completion.</summary>
/// <param name="Run">The run, now running, with its attempt incremented.</param>
/// <param name="Token">The lease token; completion, release and renewal count only with it.</param>
/// <param name="ExpiresAt">When the lease expires unless renewed; after that another claimer may take the run.</param>
public readonly record struct RunLease(ScheduledRun Run, Guid Token, DateTimeOffset ExpiresAt);
