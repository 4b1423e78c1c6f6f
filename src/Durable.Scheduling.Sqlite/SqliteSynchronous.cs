namespace Durable.Scheduling.Sqlite;

/// <summary>How hard SQLite works to make each commit survive a power failure (<c>PRAGMA synchronous</c>).</summary>
public enum SqliteSynchronous
{
    /// <summary>
    /// The default: every commit is flushed to disk (fsync) before it returns, so a committed claim, completion or
    /// scheduled run survives a crash of the process, the operating system or the power.
    /// </summary>
    Full = 0,

    /// <summary>
    /// Commits are flushed at WAL checkpoints only. A process crash loses nothing, but a power failure or operating
    /// system crash may lose the most recent commits (scheduled runs, completions): those runs may then run again or,
    /// if their creation was lost, not at all. Faster on slow disks.
    /// </summary>
    Normal = 1,
}
