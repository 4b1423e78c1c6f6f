namespace Durable.Scheduling;

/// <summary>One page of runs, ordered by scheduled time, then id.</summary>
/// <param name="Items">The runs on this page.</param>
/// <param name="ContinuationToken">Pass it in <see cref="RunQuery.ContinuationToken"/> for the next page; null on the last page.</param>
public sealed record RunPage(IReadOnlyList<ScheduledRun> Items, string? ContinuationToken);
