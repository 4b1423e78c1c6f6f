using System.Collections.Concurrent;

namespace Durable.Scheduling.Engine.Schedules;

/// <summary>
/// The schedules this process paused or deleted lately, and when (as a number of such changes made here). The
/// scheduler claims a run a few milliseconds before its instant; an occurrence claimed before its schedule was paused
/// or deleted here is handed back instead of started, so that once <c>PauseAsync</c> or <c>DeleteAsync</c> has returned
/// none of its occurrences starts in this process. Written by the scheduler API (any thread), read when a run starts.
/// </summary>
/// <remarks>
/// Only schedules held now have an entry (a resume removes it), and an entry matters only to runs claimed before it
/// and not started yet, so entries older than <see cref="s_keepTicks"/> are dropped once there are many: deleting
/// schedules by the million does not grow this.
/// </remarks>
internal sealed class ScheduleHolds(TimeProvider time)
{
    /// <summary>How long an entry is kept at least: far longer than a claimed run waits for its start.</summary>
    private static readonly long s_keepTicks = TimeSpan.FromMinutes(1).Ticks;

    private readonly ConcurrentDictionary<string, Change> _held = new(StringComparer.Ordinal);
    private long _changes; // changes recorded so far: the number of the last one
    private int _pruneAt = 1024;

    /// <summary>The number of the last change recorded (0: none). A claim notes it before it goes to the store.</summary>
    public long Current => Volatile.Read(ref _changes);

    /// <summary>
    /// Records a change of a schedule, as stored (<paramref name="holds"/>: paused or deleted), before the call that made
    /// it returns. Of two changes told out of order, the one with the higher store sequence stands.
    /// </summary>
    public void Changed(string schedule, long sequence, bool holds)
    {
        if (!holds)
        {
            // Resumed (or changed while active): runs claimed from now on start. One claimed before and told of a
            // later pause still finds that pause's entry if it was told after this.
            if (_held.TryGetValue(schedule, out var held) && held.Sequence <= sequence)
            {
                _held.TryRemove(new KeyValuePair<string, Change>(schedule, held));
            }

            return;
        }

        var change = new Change(sequence, Interlocked.Increment(ref _changes), time.GetUtcNow().UtcTicks);
        _held.AddOrUpdate(schedule, static (_, c) => c, static (_, old, c) => c.Sequence >= old.Sequence ? c : old with { Number = c.Number }, change);
        if (_held.Count > Volatile.Read(ref _pruneAt))
        {
            Prune(change.AtTicks);
        }
    }

    /// <summary>
    /// True when <paramref name="schedule"/> was paused or deleted here after change number
    /// <paramref name="claimedAfter"/> and still is: one volatile read when nothing was paused or deleted since.
    /// </summary>
    public bool HeldSince(string schedule, long claimedAfter) =>
        Volatile.Read(ref _changes) > claimedAfter && _held.TryGetValue(schedule, out var change) && change.Number > claimedAfter;

    private void Prune(long nowTicks)
    {
        foreach (var (schedule, change) in _held)
        {
            if (nowTicks - change.AtTicks > s_keepTicks)
            {
                _held.TryRemove(new KeyValuePair<string, Change>(schedule, change));
            }
        }

        Volatile.Write(ref _pruneAt, Math.Max(1024, _held.Count * 2));
    }

    private readonly record struct Change(long Sequence, long Number, long AtTicks);
}
