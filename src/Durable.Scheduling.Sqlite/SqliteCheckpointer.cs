using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// Checkpoints the WAL beside the writer instead of inside its commits. Left to itself, SQLite checkpoints once the WAL
/// holds <see cref="Pages"/> pages, in the commit that grew it that far and on the committing connection: it flushes the
/// WAL, copies its pages into the database file and flushes that, while every queued write waits. The writer turns
/// that off (<c>wal_autocheckpoint = 0</c>) and reports the pages each commit appended (<see cref="Committed"/>); once
/// <see cref="Pages"/> have been appended since the last checkpoint, a connection of this one's own runs a passive
/// checkpoint on another thread, which never blocks the writer or a reader (it copies what no reader still needs; the
/// rest at a later one, as SQLite's own would).
/// <para>
/// A checkpoint that fails (the disk, say) is not retried here: <see cref="Failed"/> turns true and the writer hands
/// checkpoints back to SQLite before its next transaction, as before it had this one.
/// </para>
/// </summary>
internal sealed class SqliteCheckpointer : IAsyncDisposable
{
    /// <summary>Pages appended to the WAL between checkpoints: SQLite's own threshold.</summary>
    public const int Pages = 1000;

    private const int CacheWrite = 9; // SQLITE_DBSTATUS_CACHE_WRITE: pages a connection wrote (in WAL mode, appended to the WAL)

    private readonly SqliteConnection _connection;
    private readonly SemaphoreSlim _due = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _appended; // pages appended since the last checkpoint was asked for (the writer's thread only)
    private volatile bool _failed;
    private int _disposed;

    private SqliteCheckpointer(SqliteConnection connection)
    {
        _connection = connection;
        _loop = Task.Run(CheckpointLoopAsync);
    }

    /// <summary>True once a checkpoint has failed: the writer should let SQLite checkpoint in its commits again.</summary>
    public bool Failed => _failed;

    /// <summary>
    /// Takes checkpoints off <paramref name="writer"/> if its database is in WAL mode and a connection of this one's own
    /// opens; otherwise returns null and SQLite goes on checkpointing in the writer's commits. Call between transactions.
    /// </summary>
    public static SqliteCheckpointer? TryStart(SqliteFile file, SqliteConnection writer)
    {
        SqliteConnection? own = null;
        try
        {
            using var pragma = writer.CreateCommand();
            pragma.CommandText = "PRAGMA journal_mode";
            if (!string.Equals(pragma.ExecuteScalar() as string, "wal", StringComparison.OrdinalIgnoreCase))
            {
                return null; // only a WAL is checkpointed
            }

            own = file.Open();
            pragma.CommandText = "PRAGMA wal_autocheckpoint = 0";
            pragma.ExecuteNonQuery();
            PagesWritten(writer); // from here on
            return new SqliteCheckpointer(own);
        }
        catch (SqliteException)
        {
            own?.Dispose();
            return null;
        }
    }

    /// <summary>Counts the pages the writer's last commit appended to the WAL, and asks for a checkpoint past <see cref="Pages"/>. On the writer's thread, after a commit.</summary>
    public void Committed(SqliteConnection writer)
    {
        _appended += PagesWritten(writer);
        if (_appended >= Pages)
        {
            _appended = 0;
            if (_due.CurrentCount == 0)
            {
                try
                {
                    _due.Release();
                }
                catch (SemaphoreFullException)
                {
                    // asked for already
                }
            }
        }
    }

    /// <summary>Turns SQLite's own checkpoints back on for <paramref name="writer"/> (after <see cref="Failed"/>). Between transactions.</summary>
    public static void HandBack(SqliteConnection writer)
    {
        using var pragma = writer.CreateCommand();
        pragma.CommandText = $"PRAGMA wal_autocheckpoint = {Pages}";
        pragma.ExecuteNonQuery();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _due.Dispose();
    }

    /// <summary>Pages <paramref name="connection"/> wrote since the last call (its counter is reset).</summary>
    private static long PagesWritten(SqliteConnection connection)
    {
        int rc = raw.sqlite3_db_status(connection.Handle, CacheWrite, out int current, out _, 1);
        return rc == raw.SQLITE_OK ? current : 0;
    }

    private async Task CheckpointLoopAsync()
    {
        try
        {
            while (true)
            {
                await _due.WaitAsync(_stop.Token).ConfigureAwait(false);
                using var checkpoint = _connection.CreateCommand();
                checkpoint.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
                checkpoint.ExecuteNonQuery(); // busy (another process checkpointing) is a result, not an error
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // disposed
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException or ObjectDisposedException)
        {
            _failed = true; // the writer hands checkpoints back to SQLite
        }
    }
}
