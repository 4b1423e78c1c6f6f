using Npgsql;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// The planning lock (<see cref="Storage.ISchedulingStore.EnterPlanningAsync"/>): a session-level advisory lock keyed by
/// the schema, held on a connection of its own for the pass. A holder that dies ends its session, and the server
/// releases the lock with it.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2213", Justification = "A SemaphoreSlim holds nothing to dispose unless its AvailableWaitHandle is read, which is never done here.")]
internal sealed partial class PostgreSqlSchedulingStore
{
    // One caller of this process at a time goes to the server for the lock; the others wait here. Waiting there, each
    // would hold a pooled connection: many callers at once (updates made in parallel) could take the whole pool and
    // leave the holder none for its own statements until the lock's timeout.
    private readonly SemaphoreSlim _planningTurn = new(1, 1);

    public async ValueTask<IAsyncDisposable> EnterPlanningAsync(CancellationToken cancellationToken)
    {
        await _planningTurn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _db.RunAsync("take the planning lock", async ct =>
            {
                var connection = await _data.OpenConnectionAsync(ct).ConfigureAwait(false);
                try
                {
                    var attempt = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection);
                    await using (attempt.ConfigureAwait(false))
                    {
                        attempt.Parameters.AddWithValue("key", _planningLock);
                        if (await attempt.ExecuteScalarAsync(ct).ConfigureAwait(false) is not true)
                        {
                            await WaitForPlanningLockAsync(connection, ct).ConfigureAwait(false); // another pass holds it
                        }
                    }

                    return (IAsyncDisposable)new PlanningLock(connection, _planningLock, _planningTurn);
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false); // its session, and any lock it took, end
                    throw;
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _planningTurn.Release();
            throw;
        }
    }

    /// <summary>
    /// Waits for the lock on <paramref name="connection"/>. A pass holds it for a few statements; a wait of 30 s means
    /// the holder is stuck (its session alive, its process not), and the waiting pass fails as a timeout and is retried
    /// at the next poll.
    /// </summary>
    private async Task WaitForPlanningLockAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        // In a transaction only for its lock_timeout: a session-level lock outlives the commit.
        var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            var command = new NpgsqlCommand("SET LOCAL lock_timeout = '30s'; SELECT pg_advisory_lock(@key)", connection, transaction);
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.AddWithValue("key", _planningLock);
                await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await transaction.CommitAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>A held planning lock: released on its connection, which then goes back to the pool, and then this process's turn.</summary>
    private sealed class PlanningLock(NpgsqlConnection connection, long key, SemaphoreSlim turn) : IAsyncDisposable
    {
        private NpgsqlConnection? _connection = connection;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _connection, null) is not { } held)
            {
                return;
            }

            try
            {
                var command = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", held);
                await using (command.ConfigureAwait(false))
                {
                    command.Parameters.AddWithValue("key", key);
                    await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (PostgreSqlErrors.IsProviderError(e))
            {
                // The connection broke: its session ended on the server, and the lock with it. It must not go back to
                // the pool still holding the lock, so it is dropped rather than returned.
                NpgsqlConnection.ClearPool(held);
            }
            finally
            {
                await held.DisposeAsync().ConfigureAwait(false);
                turn.Release();
            }
        }
    }
}
