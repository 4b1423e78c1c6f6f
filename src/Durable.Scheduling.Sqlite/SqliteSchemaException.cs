using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// The database file holds a schema this version cannot use: a newer Durable.Scheduling schema, or tables of another
/// program under our names, or a damaged one (a table or index missing). The file is never modified in that case. As a
/// <see cref="StoreUnusableException"/> it fails the host's start-up.
/// </summary>
public sealed class SqliteSchemaException : StoreUnusableException
{
    /// <summary>Creates the exception.</summary>
    public SqliteSchemaException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public SqliteSchemaException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The cause.</param>
    public SqliteSchemaException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal SqliteSchemaException(string file, int? found, int supported, string why)
        : base($"The SQLite database '{file}' {why} (found schema version {found?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}, this version of Durable.Scheduling.Sqlite supports up to {supported}). The file was not modified.")
    {
        File = file;
        FoundVersion = found;
        SupportedVersion = supported;
    }

    /// <summary>The database file.</summary>
    public string? File { get; }

    /// <summary>The schema version found, or null when the file has no Durable.Scheduling schema record.</summary>
    public int? FoundVersion { get; }

    /// <summary>The newest schema version this package knows.</summary>
    public int SupportedVersion { get; }
}
