using Durable.Scheduling;
using Durable.Scheduling.Sqlite;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Chooses the SQLite store: <c>services.AddScheduling().UseSqlite("Data Source=scheduling.db")</c>.
/// </summary>
public static class SqliteSchedulingBuilderExtensions
{
    /// <summary>
    /// Stores runs, watermarks and history in a SQLite file, created on first use (WAL journal,
    /// <c>synchronous=FULL</c> by default). Several processes on one machine may share the file; a file on a network
    /// file system is logged as a warning when first opened (WAL needs every process on one machine). The options are
    /// checked now, so a bad connection string fails at configuration, not at start-up.
    /// </summary>
    /// <param name="builder">The scheduling builder.</param>
    /// <param name="connectionString">A Microsoft.Data.Sqlite connection string naming a file.</param>
    /// <param name="configure">Further SQLite options; optional.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="ArgumentException">The connection string is empty or names an in-memory database, or an
    /// option is out of range.</exception>
    public static SchedulingBuilder UseSqlite(this SchedulingBuilder builder, string connectionString, Action<SqliteSchedulingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var sqlite = new SqliteSchedulingOptions { ConnectionString = connectionString };
        configure?.Invoke(sqlite);
        SqliteSchedulingStore.Validate(sqlite);
        return builder.UseStore(services => new SqliteSchedulingStore(sqlite, services.GetService<ILoggerFactory>()?.CreateLogger("Durable.Scheduling.Sqlite")));
    }
}
