using Durable.Scheduling;
using Durable.Scheduling.PostgreSql;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Chooses the PostgreSQL store: <c>services.AddScheduling().UsePostgreSql("Host=...;Database=...")</c>, or
/// <c>.UsePostgreSql()</c> with an <see cref="NpgsqlDataSource"/> registered in the application's services.
/// </summary>
public static class PostgreSqlSchedulingBuilderExtensions
{
    /// <summary>
    /// Stores runs, watermarks and history in a PostgreSQL database that any number of application instances share:
    /// each run executes once across them. The schema (<see cref="PostgreSqlSchedulingOptions.Schema"/>) is created or
    /// migrated on first use. The options are checked now, so a malformed connection string fails at configuration;
    /// a server that cannot be reached at start-up is retried with back-off, while a schema this version cannot use,
    /// a missing database or a refused login fail start-up.
    /// </summary>
    /// <param name="builder">The scheduling builder.</param>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <param name="configure">Further options; optional.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="ArgumentException">The connection string is empty or malformed, its Maximum Pool Size below what the store holds open at once (3; 2 without notifications), or the schema name invalid.</exception>
    public static SchedulingBuilder UsePostgreSql(this SchedulingBuilder builder, string connectionString, Action<PostgreSqlSchedulingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new PostgreSqlSchedulingOptions { ConnectionString = connectionString };
        configure?.Invoke(options);
        PostgreSqlOptionsValidation.Validate(options, needsConnectionString: true);
        return builder.UseStore(services => new PostgreSqlSchedulingStore(
            new NpgsqlDataSourceBuilder(options.ConnectionString).Build(), ownsDataSource: true, options,
            services.GetService<TimeProvider>() ?? TimeProvider.System, Logger(services)));
    }

    /// <summary>
    /// Like <see cref="UsePostgreSql(SchedulingBuilder, string, Action{PostgreSqlSchedulingOptions})"/>, on the
    /// <see cref="NpgsqlDataSource"/> registered in the application's services (which the application owns and
    /// disposes), with the default options.
    /// </summary>
    /// <param name="builder">The scheduling builder.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> is null.</exception>
    /// <exception cref="InvalidOperationException">At start-up: no <see cref="NpgsqlDataSource"/> is registered.</exception>
    /// <exception cref="ArgumentException">At start-up: the data source's Maximum Pool Size is below 3 (see the other overload).</exception>
    public static SchedulingBuilder UsePostgreSql(this SchedulingBuilder builder) => builder.UsePostgreSql(_ => { });

    /// <summary>
    /// Like <see cref="UsePostgreSql(SchedulingBuilder, string, Action{PostgreSqlSchedulingOptions})"/>, on the
    /// <see cref="NpgsqlDataSource"/> registered in the application's services (which the application owns and
    /// disposes). <see cref="PostgreSqlSchedulingOptions.ConnectionString"/>, when set, is used instead.
    /// </summary>
    /// <param name="builder">The scheduling builder.</param>
    /// <param name="configure">The options.</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="configure"/> is null.</exception>
    /// <exception cref="ArgumentException">The schema name (or a connection string given) is invalid; at start-up, the
    /// data source's Maximum Pool Size is below what the store holds open at once (3; 2 without notifications).</exception>
    /// <exception cref="InvalidOperationException">At start-up: no connection string was given and no
    /// <see cref="NpgsqlDataSource"/> is registered.</exception>
    public static SchedulingBuilder UsePostgreSql(this SchedulingBuilder builder, Action<PostgreSqlSchedulingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new PostgreSqlSchedulingOptions();
        configure(options);
        if (options.ConnectionString is not null)
        {
            return builder.UsePostgreSql(options.ConnectionString, o =>
            {
                o.Schema = options.Schema;
                o.Notifications = options.Notifications;
            });
        }

        PostgreSqlOptionsValidation.Validate(options, needsConnectionString: false);
        return builder.UseStore(services => new PostgreSqlSchedulingStore(
            services.GetService<NpgsqlDataSource>() ?? throw new InvalidOperationException(
                "UsePostgreSql() without a connection string uses the NpgsqlDataSource registered in the services, and none is registered: register one (services.AddSingleton(NpgsqlDataSource.Create(...)) or AddNpgsqlDataSource) or pass a connection string."),
            ownsDataSource: false, options, services.GetService<TimeProvider>() ?? TimeProvider.System, Logger(services)));
    }

    private static ILogger? Logger(IServiceProvider services) =>
        services.GetService<ILoggerFactory>()?.CreateLogger("Durable.Scheduling.PostgreSql");
}
