using System.Net.Sockets;
using Durable.Scheduling.Storage;
using Npgsql;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// How Npgsql and server errors become the storage contract's exceptions: a lock or statement timeout is a
/// <see cref="TimeoutException"/>; a missing database, a refused login or missing privileges (retrying will not help)
/// a <see cref="StoreUnusableException"/>; anything else (connection lost, server restarting, failover) an
/// <see cref="IOException"/>. Messages name host, port, database and schema, never the connection string or password.
/// </summary>
internal sealed class PostgreSqlErrors(string host, int port, string database, string schema)
{
    public string Database => database;

    public string Describe => $"PostgreSQL {host}:{port}, database '{database}', schema '{schema}'";

    /// <summary>True for what this maps (provider and socket errors); others (our own exceptions, bugs) pass through.</summary>
    public static bool IsProviderError(Exception e) => e is NpgsqlException or SocketException or TimeoutException ||
        (e is InvalidOperationException && e.Source == "Npgsql");

    public Exception Map(Exception e, string action)
    {
        string message = $"The {Describe} could not {action}: {e.Message}";
        if (e is PostgresException pg)
        {
            message += $" (SQLSTATE {pg.SqlState})";
            switch (pg.SqlState)
            {
                case PostgresErrorCodes.LockNotAvailable:
                case PostgresErrorCodes.QueryCanceled: // statement_timeout: our own token's cancellation never comes here
                    return new TimeoutException(message, e);
                case PostgresErrorCodes.InvalidCatalogName: // no such database
                case PostgresErrorCodes.InvalidPassword:
                case PostgresErrorCodes.InvalidAuthorizationSpecification:
                case PostgresErrorCodes.InsufficientPrivilege:
                case PostgresErrorCodes.ReadOnlySqlTransaction:
                case PostgresErrorCodes.UndefinedTable: // dropped under us
                case PostgresErrorCodes.UndefinedColumn:
                    return new StoreUnusableException(message, e);
                case PostgresErrorCodes.CharacterNotInRepertoire:
                case PostgresErrorCodes.UntranslatableCharacter:
                    return new ArgumentException($"The {Describe} refused a value: PostgreSQL text cannot hold the NUL character (\\0) ({pg.MessageText}).", e);
                default:
                    return new IOException(message, e);
            }
        }

        if (e is TimeoutException || e.InnerException is TimeoutException)
        {
            return new TimeoutException(message, e);
        }

        return new IOException(message, e);
    }
}
