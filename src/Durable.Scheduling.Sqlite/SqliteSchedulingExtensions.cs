using Durable.Scheduling.Sqlite;

namespace Durable.Scheduling;

/// <summary>Chooses the SQLite store: <c>services.AddScheduling(o =&gt; o.UseSqlite("Data Source=scheduling.db"))</c>.</summary>
public static class SqliteSchedulingExtensions
{
    /// <summary>
    /// Stores runs, watermarks and history in a SQLite file, created on first use (WAL journal,
    /// <c>synchronous=FULL</c> by default). Several processes on one machine may share the file.
    /// </summary>
    /// <param name="options">The scheduler options.</param>
    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string naming a file.</param>
    /// <param name="configure">Further SQLite options; optional.</param>
    /// <returns>The scheduler options.</returns>
    /// <exception cref="ArgumentException">The connection string is empty or names an in-memory database.</exception>
    public static SchedulingOptions UseSqlite(this SchedulingOptions options, string connectionString, Action<SqliteSchedulingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var sqlite = new SqliteSchedulingOptions { ConnectionString = connectionString };
        configure?.Invoke(sqlite);
        _ = new SqliteSchedulingStore(sqlite); // validates now, so a bad connection string fails at configuration
        return options.UseStore(_ => new SqliteSchedulingStore(sqlite));
    }

    /// <summary>Stores runs in a SQLite file; see <see cref="UseSqlite(SchedulingOptions, string, Action{SqliteSchedulingOptions}?)"/>.</summary>
    /// <param name="builder">The scheduling builder.</param>
    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string naming a file.</param>
    /// <param name="configure">Further SQLite options; optional.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentException">The connection string is empty or names an in-memory database.</exception>
    public static SchedulingBuilder UseSqlite(this SchedulingBuilder builder, string connectionString, Action<SqliteSchedulingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var sqlite = new SqliteSchedulingOptions { ConnectionString = connectionString };
        configure?.Invoke(sqlite);
        _ = new SqliteSchedulingStore(sqlite);
        return builder.UseStore(_ => new SqliteSchedulingStore(sqlite));
    }
}
