using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;

namespace Durable.Scheduling.Sqlite;

/// <summary>Reader connections, reused: under WAL they read beside the writer. Thread-safe.</summary>
internal sealed class SqliteReaderPool(SqliteFile file) : IAsyncDisposable
{
    private readonly ConcurrentBag<SqliteConnection> _readers = [];

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
            await reader.DisposeAsync().ConfigureAwait(false);
        }
    }
}
