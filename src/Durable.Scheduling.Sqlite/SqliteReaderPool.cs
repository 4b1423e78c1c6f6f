using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// Reader connections, reused: under WAL they read beside the writer. Each keeps its commands of fixed SQL prepared
/// (<see cref="Prepared"/>): a command made anew compiles its SQL at every read. Thread-safe; a connection serves one
/// read at a time.
/// </summary>
internal sealed class SqliteReaderPool(SqliteFile file) : IAsyncDisposable
{
    private static readonly ConditionalWeakTable<SqliteConnection, Dictionary<string, SqliteCommand>> s_prepared = new();
    private readonly ConcurrentBag<SqliteConnection> _readers = [];

    /// <summary>
    /// The command of <paramref name="connection"/> (a reader's, inside <see cref="ReadAsync"/>) for <paramref name="sql"/>,
    /// prepared at its first use and kept with the connection: the caller binds every parameter anew
    /// (<see cref="SqliteRows.Bind"/>) and does not dispose it. For SQL of fixed text only (the cache keeps one per text).
    /// </summary>
    public static SqliteCommand Prepared(SqliteConnection connection, string sql)
    {
        var commands = s_prepared.GetValue(connection, static _ => new Dictionary<string, SqliteCommand>(StringComparer.Ordinal));
        if (!commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            commands.Add(sql, command);
        }

        return command;
    }

    /// <summary>Runs a read on a pooled connection, waiting out locks; a SQLite error becomes the contract's <see cref="IOException"/>.</summary>
    public async Task<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        if (!_readers.TryTake(out var connection))
        {
            connection = file.OpenOrThrow();
        }

        try
        {
            return await file.RetryBusyAsync(() => read(connection), cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e)
        {
            throw file.Unavailable(e, "read");
        }
        finally
        {
            _readers.Add(connection);
        }
    }

    public async ValueTask DisposeAsync()
    {
        while (_readers.TryTake(out var reader))
        {
            if (s_prepared.TryGetValue(reader, out var commands))
            {
                foreach (var command in commands.Values)
                {
                    await command.DisposeAsync().ConfigureAwait(false);
                }

                s_prepared.Remove(reader);
            }

            await reader.DisposeAsync().ConfigureAwait(false);
        }
    }
}
