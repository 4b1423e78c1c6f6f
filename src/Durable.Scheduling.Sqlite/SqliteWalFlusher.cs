using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Win32.SafeHandles;
using SQLitePCL;

namespace Durable.Scheduling.Sqlite;

/// <summary>A committed write whose caller waits for the flush that puts its commit on disk.</summary>
internal interface IAwaitingFlush
{
    /// <summary>The WAL holding its commit is on disk (<paramref name="error"/> null), or could not be flushed.</summary>
    void Flushed(Exception? error);
}

/// <summary>
/// The disk flush of <see cref="SqliteSynchronous.Full"/>, taken off the writer. The writer commits without SQLite's own
/// flush (its connection at <c>synchronous=NORMAL</c>) and hands each committed transaction's writes here; one flush of
/// the WAL file covers every commit appended to it before, and only then are those writes answered. Meanwhile the
/// writer runs its next transaction's statements instead of waiting for the disk, and commits it once the flush before
/// it is done (<see cref="WaitForEarlierFlushes"/>): at most one commit is ever waiting for its flush, and the writes
/// queued meanwhile share the next commit, as they did when SQLite flushed at each commit.
/// <para>
/// A caller is still answered only once its write is on disk. What differs from SQLite's own flush is that other
/// connections may read a commit a little before that flush; nothing durable can depend on it, because the WAL is
/// replayed in order after a power failure and stops at the first frame that did not reach the disk, and any later
/// commit (of this process or another) is flushed with everything before it.
/// </para>
/// <para>
/// A flush that fails fails the writes it covered with an <see cref="IOException"/> (they are committed, but may not
/// survive a power failure); the writer then turns SQLite's own flush back on (see <see cref="Failed"/>).
/// </para>
/// </summary>
internal sealed class SqliteWalFlusher : IAsyncDisposable
{
    private readonly SafeFileHandle _wal;
    private readonly string _databasePath;
    private readonly Channel<IAwaitingFlush[]> _committed = Channel.CreateUnbounded<IAwaitingFlush[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly Task _loop;
    private readonly object _gate = new(); // guards the two counts (a monitor: the writer waits on it)
    private long _handed; // transactions handed over
    private long _flushed; // of those, flushed (or failed) and answered
    private volatile bool _failed;

    /// <param name="wal">The database's WAL file, open (any access: a flush works on the file, whichever handle wrote it).</param>
    /// <param name="databasePath">The database file as configured, for messages.</param>
    internal SqliteWalFlusher(SafeFileHandle wal, string databasePath)
    {
        _wal = wal;
        _databasePath = databasePath;
        _loop = Task.Run(FlushLoopAsync);
    }

    /// <summary>True once a flush has failed: the writer should flush at each commit itself from its next transaction on.</summary>
    public bool Failed => _failed;

    /// <summary>
    /// Takes the flush off <paramref name="writer"/> if its database is in WAL mode and its WAL file can be opened: turns
    /// the writer's own flush off and returns the flusher. Otherwise returns null, and the writer keeps SQLite's flush at
    /// every commit. Call between transactions, after the writer has committed once with its own flush, so that the WAL
    /// file and its entry in the folder are on disk already (SQLite flushes the folder at a new WAL file's first flush).
    /// </summary>
    public static SqliteWalFlusher? TryStart(SqliteConnection writer, string databasePath)
    {
        SafeFileHandle? wal = null;
        try
        {
            using var pragma = writer.CreateCommand();
            pragma.CommandText = "PRAGMA journal_mode";
            if (!string.Equals(pragma.ExecuteScalar() as string, "wal", StringComparison.OrdinalIgnoreCase))
            {
                return null; // a rollback journal is written and removed at every commit: only SQLite can flush it
            }

            if (WalFileOf(writer) is not { } walFile)
            {
                return null;
            }

            wal = File.OpenHandle(walFile, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            pragma.CommandText = "PRAGMA synchronous = NORMAL";
            pragma.ExecuteNonQuery();
            return new SqliteWalFlusher(wal, databasePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SqliteException)
        {
            wal?.Dispose();
            return null;
        }
    }

    /// <summary>
    /// The WAL file SQLite writes for <paramref name="connection"/>'s database: named after the file SQLite opened, which
    /// is not the configured path when that path goes through a symbolic link (SQLite follows it), so a file of the
    /// configured name beside the link is never the one flushed. Null when SQLite names no file.
    /// </summary>
    internal static string? WalFileOf(SqliteConnection connection) =>
        connection.Handle is { } db && raw.sqlite3_db_filename(db, "main").utf8_to_string() is { Length: > 0 } main ? main + "-wal" : null;

    /// <summary>Hands over the writes of a transaction just committed without a flush (the writer's thread only).</summary>
    public void Add(IAwaitingFlush[] writes)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(!_committed.Writer.TryWrite(writes), this);
            _handed++;
        }
    }

    /// <summary>
    /// Blocks until every transaction handed over so far is flushed: the writer calls it before its next commit, so at
    /// most one flush is ever behind it. Its next transaction's statements run meanwhile (beside the flush), and the
    /// writes queued while both happen share the commit after, as they shared one when SQLite flushed at each commit.
    /// </summary>
    public void WaitForEarlierFlushes()
    {
        lock (_gate)
        {
            while (_flushed < _handed)
            {
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Answers every write handed over, after a last flush, then closes the WAL file's handle.</summary>
    public async ValueTask DisposeAsync()
    {
        _committed.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        _wal.Dispose();
    }

    private async Task FlushLoopAsync()
    {
        var waiting = new List<IAwaitingFlush[]>();
        while (await _committed.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (_committed.Reader.TryRead(out var writes))
            {
                waiting.Add(writes);
            }

            Exception? error = null;
            try
            {
                RandomAccess.FlushToDisk(_wal);
            }
            catch (Exception e)
            {
                _failed = true;
                error = new IOException($"The SQLite database '{_databasePath}' committed these writes, but its WAL file could not be flushed to disk ({e.Message}): they may not survive a power failure. Later commits are flushed by SQLite itself.", e);
            }

            foreach (var group in waiting)
            {
                foreach (var write in group)
                {
                    write.Flushed(error);
                }
            }

            lock (_gate)
            {
                _flushed += waiting.Count;
                Monitor.PulseAll(_gate);
            }

            waiting.Clear();
        }
    }
}
