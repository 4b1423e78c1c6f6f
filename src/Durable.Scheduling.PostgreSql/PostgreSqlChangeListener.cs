using Microsoft.Extensions.Logging;
using Npgsql;

namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// Listens on the schema's notification channel over one dedicated connection and tells subscribers when another
/// instance changed runs (notifications this instance sent are recognized by their payload and ignored). A lost
/// connection is reopened with a back-off doubling to 30 seconds, on the scheduler's clock; after a reconnect the
/// subscribers are told once, since notifications sent meanwhile are lost.
/// </summary>
internal sealed class PostgreSqlChangeListener(NpgsqlDataSource dataSource, string channel, string self, TimeProvider time, ILogger logger, PostgreSqlErrors errors) : IAsyncDisposable
{
    private static readonly TimeSpan s_maxBackOff = TimeSpan.FromSeconds(30);
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private Action<DateTimeOffset>[] _subscribers = [];
    private Task? _loop;

    public IDisposable Subscribe(Action<DateTimeOffset> changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        lock (_gate)
        {
            _subscribers = [.. _subscribers, changed];
            _loop ??= Task.Run(() => ListenAsync(_stop.Token));
        }

        return new Subscription(this, changed);
    }

    private void Unsubscribe(Action<DateTimeOffset> changed)
    {
        lock (_gate)
        {
            _subscribers = [.. _subscribers.Where(s => s != changed)];
        }
    }

    private void Tell(DateTimeOffset earliestDue)
    {
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            subscriber(earliestDue);
        }
    }

    /// <summary>The payload a change sends: the sender's id, then the earliest due time changed, in UTC ticks.</summary>
    public static string Payload(string sender, long earliestDueTicks) =>
        sender + ":" + earliestDueTicks.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Reads a payload; one not from this instance tells the subscribers (an unreadable time means "unknown").</summary>
    private void Received(string payload)
    {
        int colon = payload.IndexOf(':', StringComparison.Ordinal);
        string sender = colon < 0 ? payload : payload[..colon];
        if (sender == self)
        {
            return;
        }

        Tell(colon >= 0 && long.TryParse(payload.AsSpan(colon + 1), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long ticks) &&
            ticks >= DateTimeOffset.MinValue.UtcTicks && ticks <= DateTimeOffset.MaxValue.UtcTicks
            ? new DateTimeOffset(ticks, TimeSpan.Zero)
            : DateTimeOffset.MinValue);
    }

    private async Task ListenAsync(CancellationToken stop)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        bool reconnecting = false;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                var connection = await dataSource.OpenConnectionAsync(stop).ConfigureAwait(false);
                await using var connectionScope = connection.ConfigureAwait(false);
                connection.Notification += (_, e) => Received(e.Payload);
                var listen = new NpgsqlCommand($"LISTEN {PostgreSqlSchema.Quote(channel)}", connection);
                await using (listen.ConfigureAwait(false))
                {
                    await listen.ExecuteNonQueryAsync(stop).ConfigureAwait(false);
                }

                if (reconnecting)
                {
                    PostgreSqlLog.ListenerReconnected(logger, errors.Describe);
                    Tell(DateTimeOffset.MinValue); // what was sent while the connection was down is lost: read the store once
                }

                delay = TimeSpan.FromMilliseconds(250);
                while (!stop.IsCancellationRequested)
                {
                    await connection.WaitAsync(stop).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (PostgreSqlErrors.IsProviderError(e) || e is IOException)
            {
                // The scheduler still polls: a listener down only delays runs added elsewhere to the next poll.
                PostgreSqlLog.ListenerFailed(logger, errors.Describe, delay, errors.Map(e, "listen for changes"));
                reconnecting = true;
                try
                {
                    await Task.Delay(delay, time, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                delay = delay * 2 > s_maxBackOff ? s_maxBackOff : delay * 2;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private sealed class Subscription(PostgreSqlChangeListener listener, Action<DateTimeOffset> changed) : IDisposable
    {
        public void Dispose() => listener.Unsubscribe(changed);
    }
}
