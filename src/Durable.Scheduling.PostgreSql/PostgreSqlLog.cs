using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.PostgreSql;

/// <summary>The store's log messages (event ids 100 and up, apart from the scheduler's).</summary>
internal static partial class PostgreSqlLog
{
    [LoggerMessage(100, LogLevel.Warning, "Listening for changes on {Database} failed; runs added by other instances are read at each poll until it reconnects (next try in {Delay}).")]
    public static partial void ListenerFailed(ILogger logger, string database, TimeSpan delay, Exception exception);

    [LoggerMessage(101, LogLevel.Information, "Listening for changes on {Database} again.")]
    public static partial void ListenerReconnected(ILogger logger, string database);

    [LoggerMessage(102, LogLevel.Warning, "{Database} runs with synchronous_commit off (or local): a server crash may lose commits it acknowledged, so a run scheduled or completed just before may be lost or run again. Use synchronous_commit = on for exactly-once.")]
    public static partial void AsynchronousCommit(ILogger logger, string database);
}
