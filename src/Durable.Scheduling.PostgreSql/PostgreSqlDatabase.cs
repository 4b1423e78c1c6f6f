using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// The database as every operation of the store sees it: the data source, the schema checked and migrated on first use
/// (and a warning when commits are not synchronous), provider failures mapped to the contract's exceptions, and the
/// notifications this instance sends and listens for.
/// </summary>
internal sealed class PostgreSqlDatabase : IAsyncDisposable
{
    private readonly NpgsqlDataSource _data;
    private readonly bool _ownsData;
    private readonly string _schema;
    private readonly string _channel;
    private readonly string _self = Guid.NewGuid().ToString("N");
    private readonly bool _notify;
    private readonly PostgreSqlErrors _errors;
    private readonly PostgreSqlChangeListener? _listener;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _initLock = new(1, 1);
    private volatile bool _initialized;
    private int _disposed;

    public PostgreSqlDatabase(NpgsqlDataSource dataSource, bool ownsDataSource, PostgreSqlSchedulingOptions options, TimeProvider time, ILogger? logger)
    {
        _data = dataSource;
        _ownsData = ownsDataSource;
        _schema = options.Schema;
        _notify = options.Notifications;
        _channel = "durable_scheduling." + _schema;
        var settings = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
        PostgreSqlOptionsValidation.CheckPool(settings, _notify, nameof(dataSource));
        _errors = new PostgreSqlErrors(settings.Host ?? "localhost", settings.Port, settings.Database ?? settings.Username ?? "", _schema);
        _logger = logger ?? NullLogger.Instance;
        if (_notify)
        {
            _listener = new PostgreSqlChangeListener(dataSource, _channel, _self, time, _logger, _errors);
        }
    }

    /// <summary>Listens for other instances' changes (see <see cref="IRunChangeNotifications"/>); nothing when notifications are off.</summary>
    public IDisposable Subscribe(Action<DateTimeOffset> changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        return _listener is null ? NoSubscription.Instance : _listener.Subscribe(changed);
    }

    /// <summary>
    /// A NOTIFY in the same batch (so the same transaction: sent only if the change commits), carrying this instance's
    /// id (its own listener ignores it) and the earliest due time changed (listeners ignore runs their poll will load).
    /// </summary>
    public void AddNotify(NpgsqlBatch batch, long earliestDueTicks)
    {
        if (_notify)
        {
            var notify = new NpgsqlBatchCommand("SELECT pg_notify(@channel, @payload)");
            notify.Parameters.AddWithValue("channel", _channel);
            notify.Parameters.AddWithValue("payload", PostgreSqlChangeListener.Payload(_self, earliestDueTicks));
            batch.BatchCommands.Add(notify);
        }
    }

    /// <summary>
    /// A select-list item that tells the other instances of a run due at the instant in <paramref name="dueTicksSql"/>
    /// (when notifications are on; its parameters are added to <paramref name="command"/>), or <c>NULL</c>: for a
    /// statement that learns the due time only as it runs.
    /// </summary>
    public string NotifyItem(NpgsqlBatchCommand command, string dueTicksSql)
    {
        if (!_notify)
        {
            return "NULL";
        }

        command.Parameters.AddWithValue("notify_channel", _channel);
        command.Parameters.AddWithValue("notify_sender", _self + ":");
        return $"pg_notify(@notify_channel, @notify_sender || ({dueTicksSql})::text)";
    }

    public async Task NotifyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long earliestDueTicks, CancellationToken ct)
    {
        if (_notify)
        {
            var notify = new NpgsqlCommand("SELECT pg_notify(@channel, @payload)", connection, transaction);
            await using var notifyScope = notify.ConfigureAwait(false);
            notify.Parameters.AddWithValue("channel", _channel);
            notify.Parameters.AddWithValue("payload", PostgreSqlChangeListener.Payload(_self, earliestDueTicks));
            await notify.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs one operation: migrates on first use, maps provider failures to the contract's exceptions (the
    /// transaction of a failed call is rolled back, so it changed nothing). Cancellation by the caller stays an
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<T> RunAsync<T>(string action, Func<CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            if (!_initialized)
            {
                await InitializeAsync(cancellationToken).ConfigureAwait(false);
            }

            return await operation(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (PostgreSqlErrors.IsProviderError(e))
        {
            throw _errors.Map(e, action);
        }
    }

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _initLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_initialized)
            {
                return;
            }

            var connection = await _data.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using var connectionScope = connection.ConfigureAwait(false);
            await PostgreSqlSchemaMigrator.InitializeAsync(connection, _schema, _errors.Database, cancellationToken).ConfigureAwait(false);
            var durability = new NpgsqlCommand("SHOW synchronous_commit", connection);
            await using (durability.ConfigureAwait(false))
            {
                if (await durability.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is "off" or "local")
                {
                    // An acknowledged commit may then be lost by a server crash: a run scheduled, or one recorded as
                    // done, could be lost or run again. Said once, at start-up; the setting is the operator's choice.
                    PostgreSqlLog.AsynchronousCommit(_logger, _errors.Describe);
                }
            }

            _initialized = true;
        }
        finally
        {
            _initLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // the host disposes the store as a service, and a test or an owner may too
        }

        if (_listener is not null)
        {
            await _listener.DisposeAsync().ConfigureAwait(false);
        }

        if (_ownsData)
        {
            await _data.DisposeAsync().ConfigureAwait(false);
        }

        _initLock.Dispose();
    }

    private sealed class NoSubscription : IDisposable
    {
        public static readonly NoSubscription Instance = new();

        public void Dispose()
        {
        }
    }
}
