using Npgsql;

namespace Durable.Scheduling.PostgreSql;

/// <summary>Checks <see cref="PostgreSqlSchedulingOptions"/> at configuration, naming the option that is wrong.</summary>
internal static class PostgreSqlOptionsValidation
{
    /// <summary>Checks the options, naming the one that is wrong.</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static void Validate(PostgreSqlSchedulingOptions options, bool needsConnectionString)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrEmpty(options.Schema) || options.Schema.Length > 48 || !(char.IsAsciiLetterLower(options.Schema[0]) || options.Schema[0] == '_') ||
            !options.Schema.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
        {
            throw new ArgumentException($"PostgreSqlSchedulingOptions.Schema '{options.Schema}' is not a valid schema name: use 1 to 48 lower-case letters, digits and underscores, starting with a letter or underscore.", nameof(options));
        }

        if (!needsConnectionString)
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            throw new ArgumentException("PostgreSqlSchedulingOptions.ConnectionString is required, for example \"Host=localhost;Database=app;Username=app;Password=...\".", nameof(options));
        }

        NpgsqlConnectionStringBuilder settings;
        try
        {
            settings = new NpgsqlConnectionStringBuilder(options.ConnectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            // The provider's message may quote the string (and so a password): name the problem only.
            throw new ArgumentException("PostgreSqlSchedulingOptions.ConnectionString is not a valid Npgsql connection string (a keyword is unknown or a value malformed).", nameof(options));
        }

        CheckPool(settings, options.Notifications, nameof(options));
    }

    /// <summary>
    /// Checks that the connection pool can hold what the store keeps open at once: the connection listening for other
    /// instances' changes (with notifications on), the one holding the planning lock through a pass, and one for the
    /// pass's own calls. With fewer they would wait for each other until the pool's timeout, every pass.
    /// </summary>
    /// <exception cref="ArgumentException">Pooling is on and Maximum Pool Size is below that.</exception>
    public static void CheckPool(NpgsqlConnectionStringBuilder settings, bool notifications, string parameterName)
    {
        int needed = notifications ? 3 : 2;
        if (settings.Pooling && settings.MaxPoolSize < needed)
        {
            throw new ArgumentException($"The PostgreSQL store needs a connection pool of at least {needed} connections (Maximum Pool Size is {settings.MaxPoolSize}): it holds one for the planning lock through a pass while another makes the pass's calls{(notifications ? ", and one listens for other instances' changes" : "")}.", parameterName);
        }
    }
}
