using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Sqlite;

/// <summary>The store's log messages (event ids 200 and up, apart from the scheduler's and PostgreSQL's).</summary>
internal static partial class SqliteLog
{
    [LoggerMessage(200, LogLevel.Warning, "The SQLite database '{Path}' is on a network file system ({FileSystem}, mounted at {Mount}). SQLite's WAL mode, which this store uses, works only when every process using the file runs on one machine, and network file systems often lock files unreliably: keep the file on a local disk.")]
    public static partial void NetworkFileSystem(ILogger logger, string path, string fileSystem, string mount);
}
