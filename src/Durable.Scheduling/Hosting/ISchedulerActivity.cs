namespace Durable.Scheduling;

/// <summary>
/// What the scheduler of this process is doing now: a snapshot, for tests on a fake clock and for health checks.
/// Registered by <c>AddScheduling</c>; thread-safe. Each property is read on its own: under load two reads may
/// belong to different moments.
/// </summary>
public interface ISchedulerActivity
{
    /// <summary>Handlers running now in this process.</summary>
    int RunningHandlers { get; }

    /// <summary>
    /// True when the scheduler has nothing to do until its clock's next timer fires or something is scheduled: its
    /// loop waits (or has stopped), no change or ended run is queued for it, no outcome is being written, and every
    /// run it claimed is either in a running handler or claimed ahead, waiting for its instant. Handlers may still be
    /// running (see <see cref="RunningHandlers"/>). A recurring schedule just created that first fires after the
    /// loop's next regular pass (within a poll interval, on that clock's timer) is taken in at that pass: it keeps
    /// the scheduler idle meanwhile.
    /// </summary>
    /// <remarks>
    /// On a fake <see cref="TimeProvider"/>, advance the clock when this is true and every running handler is one the
    /// test knows to be waiting on that clock; read it a few times in a row to let work that was about to start
    /// show up.
    /// </remarks>
    bool IsIdle { get; }
}
