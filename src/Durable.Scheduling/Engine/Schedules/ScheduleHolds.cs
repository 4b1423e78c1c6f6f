using System.Collections.Concurrent;

namespace Durable.Scheduling.Engine.Schedules;

/// <summary>
/// The schedules this process paused or deleted, and when (as a number of schedule changes made here). The scheduler
/// claims a run a few milliseconds before its instant; an occurrence claimed before its schedule was paused or deleted
/// here is handed back instead of started, so that once <c>PauseAsync</c> or <c>DeleteAsync</c> has returned none of
/// its occurrences starts in this process. Written by the scheduler API (any thread), read when a run starts.
/// </summary>
internal sealed class ScheduleHolds
{
    private readonly ConcurrentDictionary<string, Change> _latest = new(StringComparer.Ordinal);
    private long _changes; // changes recorded so far: the number of the last one

    /// <summary>The number of the last change recorded (0: none). A claim notes it before it goes to the store.</summary>
    public long Current => Volatile.Read(ref _changes);

    /// <summary>
    /// Records a change of a schedule, as stored (paused or deleted, or neither), before the call that made it returns.
    /// Of two changes told out of order, the one with the higher store sequence stands.
    /// </summary>
    public void Changed(string schedule, long sequence, bool holds)
    {
        var change = new Change(sequence, Interlocked.Increment(ref _changes), holds);
        _latest.AddOrUpdate(schedule, static (_, c) => c, static (_, old, c) => c.Sequence >= old.Sequence ? c : old with { Number = c.Number }, change);
    }

    /// <summary>
    /// True when <paramref name="schedule"/> was paused or deleted here after change number <paramref name="claimedAfter"/>
    /// and is still so: one volatile read when no schedule changed since.
    /// </summary>
    public bool HeldSince(string schedule, long claimedAfter) =>
        Volatile.Read(ref _changes) > claimedAfter && _latest.TryGetValue(schedule, out var change) && change.Number > claimedAfter && change.Holds;

    private readonly record struct Change(long Sequence, long Number, bool Holds);
}
