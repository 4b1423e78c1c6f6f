namespace Durable.Scheduling.Storage;

/// <summary>One page of <see cref="ISchedulingStore.GetDueAsync"/>.</summary>
/// <param name="Runs">The runs, in due order.</param>
/// <param name="ContinuationToken">Resumes after the last run; null when the page was not full.</param>
public sealed record DuePage(IReadOnlyList<DueRun> Runs, string? ContinuationToken);
