namespace Durable.Scheduling.PostgreSql;

/// <summary>Options of the PostgreSQL store.</summary>
public sealed class PostgreSqlSchedulingOptions
{
    /// <summary>The default <see cref="Schema"/>.</summary>
    public const string DefaultSchema = "durable_scheduling";

    /// <summary>
    /// The Npgsql connection string, for example <c>"Host=db;Database=app;Username=app;Password=..."</c>. Required
    /// unless the store takes an <c>NpgsqlDataSource</c> from the application's services. It is never logged, nor
    /// put in an exception message (those name host, port, database and schema only).
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// The schema holding the store's tables, created on first use; default <see cref="DefaultSchema"/>. Lower-case
    /// letters, digits and underscores, starting with a letter or underscore, at most 48 characters. Several
    /// applications (or test runs) may share a database, each in its own schema.
    /// </summary>
    public string Schema { get; set; } = DefaultSchema;

    /// <summary>
    /// Whether instances wake each other with <c>LISTEN</c>/<c>NOTIFY</c> when they add or release runs, so a run
    /// scheduled on one instance and due now starts on another within milliseconds; default true. Without it (a
    /// connection pooler in transaction mode cannot carry LISTEN) runs added elsewhere are read at the next poll.
    /// </summary>
    public bool Notifications { get; set; } = true;
}
