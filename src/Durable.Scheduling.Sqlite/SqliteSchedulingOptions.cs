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

    /// <summary>Caps the database size in pages (<c>PRAGMA max_page_count</c>); tests use it to simulate a full disk.</summary>
    internal long? MaxPageCount { get; set; }
}
