namespace Durable.Scheduling.Sqlite;

/// <summary>Options of the SQLite store.</summary>
public sealed class SqliteSchedulingOptions
{
    /// <summary>
    /// The Microsoft.Data.Sqlite connection string, for example <c>"Data Source=scheduling.db"</c>. Required. The file
    /// is created on first use. <c>Mode=Memory</c> and <c>:memory:</c> are refused: the store is meant to be durable.
    /// </summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>Durability of each commit; default <see cref="SqliteSynchronous.Full"/>.</summary>
    public SqliteSynchronous Synchronous { get; set; } = SqliteSynchronous.Full;

    /// <summary>
    /// How long a call waits and retries while another process holds the database's write lock, before it fails
    /// with a <see cref="TimeoutException"/>; default 30 seconds. SQLite's busy and locked errors never reach callers.
    /// </summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The most writes (inserts, claims, completions...) committed in one transaction when callers queue them
    /// concurrently (group commit); default 1,000.
    /// </summary>
    public int MaxWritesPerTransaction { get; set; } = 1000;

    /// <summary>
    /// Caps the database file's size, in pages of 4 KiB (<c>PRAGMA max_page_count</c>); default null (no cap beyond
    /// SQLite's own). A write that would grow the file past it fails as on a full disk: with an
    /// <see cref="IOException"/> naming the file, and nothing of that transaction is kept; the scheduler logs, backs
    /// off and carries on once runs are purged.
    /// </summary>
    public long? MaxPageCount { get; set; }
}
