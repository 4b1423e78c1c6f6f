namespace Durable.Scheduling.Engine.Feed;

/// <summary>
/// Keeps this process's occurrence planner and a schedule's update apart. An update stores the new definition, then
/// withdraws the occurrences created ahead under the old one; a planner pass between the two would create the new
/// definition's occurrences (or find the old ones in their places, under the same keys) and have them withdrawn with
/// the old, after advancing its watermark past them: those occurrences would never run. A pass holds the gate from its
/// read of the schedules to its last write; an update holds it from its write to its withdrawal.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "A SemaphoreSlim holds nothing to dispose unless its AvailableWaitHandle is read, which is never done here.")]
internal sealed class PlanningGate
{
    // One waiter at a time, asynchronously; uncontended, WaitAsync completes at once without allocating.
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Waits until no pass or update holds the gate, then holds it.</summary>
    public Task EnterAsync(CancellationToken cancellationToken) => _gate.WaitAsync(cancellationToken);

    /// <summary>Lets the next waiter in.</summary>
    public void Exit() => _gate.Release();
}
