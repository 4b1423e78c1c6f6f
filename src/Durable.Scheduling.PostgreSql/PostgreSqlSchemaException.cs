using System.Globalization;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// The database schema holds something this version cannot use: a newer Durable.Scheduling schema, tables of another
/// program under the configured schema name, or a damaged one (a table missing). Nothing is modified in that case. As a
/// <see cref="StoreUnusableException"/> it fails the host's start-up.
/// </summary>
public sealed class PostgreSqlSchemaException : StoreUnusableException
{
    /// <summary>Creates the exception.</summary>
    public PostgreSqlSchemaException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public PostgreSqlSchemaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The cause.</param>
    public PostgreSqlSchemaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal PostgreSqlSchemaException(string database, string schema, int? found, int supported, string why)
        : base($"The PostgreSQL schema '{schema}' in database '{database}' {why} (found schema version {found?.ToString(CultureInfo.InvariantCulture) ?? "none"}, this version of Durable.Scheduling.PostgreSql supports up to {supported}). Nothing was modified.")
    {
        Database = database;
        Schema = schema;
        FoundVersion = found;
        SupportedVersion = supported;
    }

    /// <summary>The database.</summary>
    public string? Database { get; }

    /// <summary>The schema.</summary>
    public string? Schema { get; }

    /// <summary>The schema version found, or null when there is no Durable.Scheduling schema record.</summary>
    public int? FoundVersion { get; }

    /// <summary>The newest schema version this package knows.</summary>
    public int SupportedVersion { get; }
}
