using Durable.Scheduling.Storage;
using Microsoft.Data.Sqlite;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// The database file as every part of the store sees it: how to open a connection (with the store's PRAGMAs), how
/// busy and locked errors are waited out, and how SQLite errors become the contract's exceptions, naming the file.
/// </summary>
internal sealed class SqliteFile(SqliteSchedulingOptions options, string connectionString, string path)
{
    private const int SqliteError = 1; // a generic SQL error: for our own statements, a missing table or column
    private const int SqliteBusy = 5;
    private const int SqliteLocked = 6;
    private const int SqliteReadOnly = 8;
    private const int SqliteCorrupt = 11;
    private const int SqliteCantOpen = 14;
    private const int SqliteNotADatabase = 26;

    /// <summary>The file's full path.</summary>
    public string Path { get; } = path;

    public SqliteSchedulingOptions Options { get; } = options;

    /// <summary>True for SQLite's busy and locked errors (another connection holds the lock).</summary>
    public static bool IsBusy(SqliteException e) => e.SqliteErrorCode is SqliteBusy or SqliteLocked;

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var pragmas = connection.CreateCommand();
        pragmas.CommandText = $"""
            PRAGMA busy_timeout = {(long)Options.BusyTimeout.TotalMilliseconds};
            PRAGMA synchronous = {(Options.Synchronous == SqliteSynchronous.Full ? "FULL" : "NORMAL")};
            PRAGMA foreign_keys = ON;
            PRAGMA cache_size = -16384;
            PRAGMA temp_store = MEMORY;
            {(Options.MaxPageCount is long pages ? $"PRAGMA max_page_count = {pages};" : "")}
            """;
        // temp_store = MEMORY: every queued write runs in a savepoint of the group commit, and SQLite keeps a savepoint's
        // page pre-images in a statement journal that otherwise spills to a new temporary file once it passes 64 KiB,
        // then takes every later write of the transaction to that file (created, written and deleted per commit). They
        // are only needed until the commit, never for recovery; one write is at most a batch of runs.
        pragmas.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Opens a connection, reporting a failure as <see cref="IOException"/> naming the file.</summary>
    public SqliteConnection OpenOrThrow()
    {
        try
        {
            return Open();
        }
        catch (SqliteException e)
        {
            throw Unavailable(e, "opened");
        }
    }

    /// <summary>
    /// The contract's exception for a failed read or write, naming the file: <see cref="StoreUnusableException"/> when
    /// retrying cannot help (read-only, not a database, cannot be opened or has been damaged), else an IOException.
    /// </summary>
    public IOException Unavailable(SqliteException e, string action)
    {
        string message = $"The SQLite database '{Path}' could not be {action}: {e.Message} (SQLite error {e.SqliteErrorCode}).";
        return e.SqliteErrorCode is SqliteReadOnly or SqliteCantOpen or SqliteNotADatabase or SqliteCorrupt or SqliteError
            ? new StoreUnusableException(message, e)
            : new IOException(message, e);
    }

    /// <summary>
    /// Runs <paramref name="action"/>, retrying while another connection holds the lock, for
    /// <see cref="SqliteSchedulingOptions.BusyTimeout"/>; then <see cref="TimeoutException"/>.
    /// </summary>
    public async Task<T> RetryBusyAsync<T>(Func<T> action, CancellationToken cancellationToken = default)
    {
        var deadline = Environment.TickCount64 + (long)Options.BusyTimeout.TotalMilliseconds;
        int delay = 1;
        while (true)
        {
            try
            {
                return action();
            }
            catch (SqliteException e) when (IsBusy(e))
            {
                if (Environment.TickCount64 > deadline)
                {
                    throw new TimeoutException($"The SQLite database '{Path}' stayed locked by another connection for more than {Options.BusyTimeout}.", e);
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 100);
            }
        }
    }
}
