namespace Durable.Scheduling.Sqlite;

/// <summary>How hard SQLite works to make each commit survive a power failure (<c>PRAGMA synchronous</c>).</summary>
public enum SqliteSynchronous
{
    /// <summary>
    /// The default: every write is flushed to disk (fsync) before the call that made it returns, so a committed claim,
    /// completion or scheduled run survives a crash of the process, the operating system or the power. The store's
    /// writer does not wait for the disk itself: it commits, and runs its next transaction's statements while a flush
    /// of the WAL file puts that commit (with any before it) on disk and then answers its calls. Another connection
    /// may read a commit a little before its flush.
    /// A flush that fails fails the calls it covered with an <see cref="IOException"/> (their writes are committed
    /// but may not survive a power failure), and SQLite then flushes at each commit itself.
    /// </summary>
    Full = 0,

    /// <summary>
    /// Commits are flushed at WAL checkpoints only. A process crash loses nothing, but a power failure or operating
    /// system crash may lose the most recent commits (scheduled runs, completions): those runs may then run again or,
    /// if their creation was lost, not at all. Faster on slow disks.
    /// </summary>
    Normal = 1,
}
