using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// The one writer connection and its queue: whatever callers queue meanwhile is committed in one transaction (group
/// commit), each write in its own savepoint so one refusal never undoes another. A long write (one of many statements)
/// is committed in a transaction of its own, without a savepoint: SQLite journals each statement inside a savepoint in
/// memory and walks that journal from its start when the statement ends, so a write of thousands of statements in a
/// savepoint takes time growing with their square. A write cancelled before the writer takes it never runs; once
/// taken, it runs and its outcome is returned. With <see cref="SqliteSynchronous.Full"/> the disk flush of each commit
/// is a <see cref="SqliteWalFlusher"/>'s: the writer hands the committed writes over (they are answered once on disk)
/// and runs its next transaction's statements meanwhile, committing it once that flush is done.
/// </summary>
internal sealed class SqliteWriteQueue : IAsyncDisposable
{
    private readonly SqliteFile _file;
    private readonly SqliteConnection _writer;
    private readonly Channel<WriteOp> _writes = Channel.CreateUnbounded<WriteOp>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, SqliteCommand> _writerCommands = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SqliteStatement> _statements = new(StringComparer.Ordinal);
    private readonly Task _writerLoop;
    private readonly SqliteWalFlusher? _flusher; // null: SQLite flushes at each commit (Normal, or no WAL file to flush)
    private bool _ownFlush; // the flusher failed and SQLite flushes at each commit again
    private SqliteTransaction? _transaction;

    /// <param name="file">The database.</param>
    /// <param name="writer">The writer connection, which has committed once already (the schema check).</param>
    public SqliteWriteQueue(SqliteFile file, SqliteConnection writer)
    {
        _file = file;
        _writer = writer;
        _flusher = file.Options.Synchronous == SqliteSynchronous.Full ? SqliteWalFlusher.TryStart(writer, file.Path) : null;
        _writerLoop = Task.Run(WriterLoopAsync);
    }

    /// <summary>Queues a write for the next transaction and returns its outcome once committed.</summary>
    /// <param name="write">The write, run on the writer inside its transaction.</param>
    /// <param name="cancellationToken">Cancels the write while it is queued.</param>
    /// <param name="alone">True for a long write: committed in a transaction of its own, without a savepoint.</param>
    public async Task<T> WriteAsync<T>(Func<T> write, CancellationToken cancellationToken, bool alone = false)
    {
        var op = new WriteOp(() => write(), alone);
        using var registration = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) => ((WriteOp)state!).TryCancel(token), op)
            : default;
        ObjectDisposedException.ThrowIf(!_writes.Writer.TryWrite(op), this);

        return (T)(await op.Completion.Task.ConfigureAwait(false))!;
    }

    /// <summary>A prepared command of the writer for <paramref name="sql"/>, in the current transaction (writes only).</summary>
    public SqliteCommand Command(string sql)
    {
        if (!_writerCommands.TryGetValue(sql, out var command))
        {
            command = _writer.CreateCommand();
            command.CommandText = sql;
            _writerCommands.Add(sql, command);
        }

        command.Transaction = _transaction;
        return command;
    }

    /// <summary>
    /// A prepared statement of the writer for <paramref name="sql"/>, run through SQLite's own API (see
    /// <see cref="SqliteStatement"/>): for the writes made per run. Inside a write only (the transaction is the writer's).
    /// </summary>
    public SqliteStatement Statement(string sql)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            statement = new SqliteStatement(_writer, sql);
            _statements.Add(sql, statement);
        }

        return statement;
    }

    /// <summary>A new command of the writer in the current transaction, for SQL built per call (writes only; dispose it).</summary>
    public SqliteCommand CreateCommand()
    {
        var command = _writer.CreateCommand();
        command.Transaction = _transaction;
        return command;
    }

    public async ValueTask DisposeAsync()
    {
        _writes.Writer.TryComplete();
        await _writerLoop.ConfigureAwait(false);
        if (_flusher is not null)
        {
            await _flusher.DisposeAsync().ConfigureAwait(false); // answers what the writer committed last; before the writer closes
        }

        foreach (var command in _writerCommands.Values)
        {
            await command.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var statement in _statements.Values)
        {
            statement.Dispose(); // finalized before their connection closes
        }

        await _writer.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The writer loop: commits every queued write in one transaction, each in its own savepoint (a long one alone).</summary>
    private async Task WriterLoopAsync()
    {
        var batch = new List<WriteOp>(_file.Options.MaxWritesPerTransaction);
        WriteOp? held = null; // a long write taken after others: the next transaction is its own
        while (held is not null || await _writes.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (held is not null)
            {
                batch.Add(held);
                held = null;
            }

            while (batch is not [{ Alone: true }] && batch.Count < _file.Options.MaxWritesPerTransaction && _writes.Reader.TryRead(out var op))
            {
                if (!op.TryTake())
                {
                    continue; // cancelled while queued: it never runs
                }

                if (op.Alone && batch.Count > 0)
                {
                    held = op;
                    break;
                }

                batch.Add(op);
            }

            if (batch.Count == 0)
            {
                continue;
            }

            try
            {
                if (_flusher is { Failed: true } && !_ownFlush)
                {
                    FlushAtEachCommit();
                }

                await _file.RetryBusyAsync(() => CommitBatch(batch)).ConfigureAwait(false);
                if (_flusher is not null && !_ownFlush)
                {
                    _flusher.Add([.. batch]); // committed without a flush: answered once the WAL is on disk
                }
                else
                {
                    foreach (var op in batch)
                    {
                        op.Finish();
                    }
                }
            }
            catch (Exception e)
            {
                // The transaction rolled back: none of these writes happened. Disk full, I/O and similar errors reach
                // callers as an IOException naming the file, never as a provider exception.
                var error = e is SqliteException sqlite ? _file.Unavailable(sqlite, "written") : e;
                foreach (var op in batch)
                {
                    op.Completion.TrySetException(error);
                }
            }

            batch.Clear();
        }
    }

    /// <summary>After a failed flush (see <see cref="SqliteWalFlusher"/>), between transactions: SQLite flushes at each commit again.</summary>
    private void FlushAtEachCommit()
    {
        try
        {
            using var pragma = _writer.CreateCommand();
            pragma.CommandText = "PRAGMA synchronous = FULL";
            pragma.ExecuteNonQuery();
            _ownFlush = true;
        }
        catch (SqliteException)
        {
            // Not switched: the flusher goes on flushing every commit, and reports each flush that fails.
        }
    }

    private bool CommitBatch(List<WriteOp> batch)
    {
        using var transaction = _writer.BeginTransaction(deferred: false); // BEGIN IMMEDIATE: take the write lock now
        _transaction = transaction;
        try
        {
            var begin = Statement("SAVEPOINT ds_op");
            var release = Statement("RELEASE ds_op");
            using var rollback = _writer.CreateCommand();
            rollback.Transaction = transaction;
            foreach (var op in batch)
            {
                op.Reset();
                if (op.Alone)
                {
                    // Alone in its transaction (see the class): the transaction stands for the savepoint.
                    try
                    {
                        op.Run();
                    }
                    catch (SqliteException e) when (SqliteFile.IsBusy(e))
                    {
                        throw;
                    }
                    catch (Exception e) when (e is not SqliteException { SqliteErrorCode: 10 or 13 or 14 })
                    {
                        transaction.Rollback();
                        op.Fail(e is SqliteException sqlite ? _file.Unavailable(sqlite, "written") : e);
                        return true;
                    }

                    continue;
                }

                begin.Execute();
                try
                {
                    op.Run();
                    release.Execute();
                }
                catch (SqliteException e) when (SqliteFile.IsBusy(e))
                {
                    throw;
                }
                catch (Exception e) when (e is not SqliteException { SqliteErrorCode: 10 or 13 or 14 }) // not I/O, full or can't-open
                {
                    rollback.CommandText = "ROLLBACK TO ds_op; RELEASE ds_op";
                    rollback.ExecuteNonQuery();
                    op.Fail(e is SqliteException sqlite ? _file.Unavailable(sqlite, "written") : e); // never a provider exception
                }
            }

            if (!_ownFlush)
            {
                _flusher?.WaitForEarlierFlushes();
            }

            transaction.Commit();
            return true;
        }
        finally
        {
            _transaction = null;
        }
    }

    /// <summary>One queued write: runs inside the writer's transaction; its outcome is published after the commit.</summary>
    private sealed class WriteOp(Func<object?> run, bool alone) : IAwaitingFlush
    {
        private const int Queued = 0, Taken = 1, Cancelled = 2;
        private object? _result;
        private Exception? _error;
        private int _state;

        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>True for a long write, committed in a transaction of its own.</summary>
        public bool Alone { get; } = alone;

        public void Reset()
        {
            _result = null;
            _error = null;
        }

        public void Run() => _result = run();

        /// <summary>The writer takes it for a transaction: false when it was cancelled while queued.</summary>
        public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Queued) == Queued;

        /// <summary>Cancels it unless the writer has taken it.</summary>
        public void TryCancel(CancellationToken token)
        {
            if (Interlocked.CompareExchange(ref _state, Cancelled, Queued) == Queued)
            {
                Completion.TrySetCanceled(token);
            }
        }

        public void Fail(Exception error) => _error = error;

        public void Flushed(Exception? error)
        {
            if (error is not null && _error is null)
            {
                Completion.TrySetException(error); // committed, but not known to be on disk
            }
            else
            {
                Finish(); // on disk; or rolled back to its savepoint, and its own error stands
            }
        }

        public void Finish()
        {
            if (_error is null)
            {
                Completion.TrySetResult(_result);
            }
            else
            {
                Completion.TrySetException(_error);
            }
        }
    }
}
