using System.Collections.Concurrent;
using System.Diagnostics;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// The planning lock of a database file (<see cref="Storage.ISchedulingStore.EnterPlanningAsync"/>), shared by every
/// store on the file in this process and in every other: a semaphore per file within the process, then an exclusive
/// lock on a file beside the database (<c>{file}-planning</c>, an OS file lock, which the OS releases when the holding
/// process dies). SQLite's own locks cannot serve: holding one across the pass's calls would block the store's writer.
/// </summary>
internal static class SqlitePlanningLock
{
    // A pass holds the lock for a few calls; waiting this long means the holder is stuck, and the waiting pass fails
    // (retried at the next poll). Measured on the real clock, as SQLite's own busy timeout is.
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_retry = TimeSpan.FromMilliseconds(2);
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> s_inProcess = new(StringComparer.Ordinal);

    /// <summary>The path of the lock file of the database at <paramref name="databasePath"/>.</summary>
    public static string PathOf(string databasePath) => databasePath + "-planning";

    /// <summary>Waits for the lock of the database at <paramref name="databasePath"/>; disposing the result releases it.</summary>
    /// <exception cref="TimeoutException">Another process held it longer than the timeout.</exception>
    /// <exception cref="IOException">The lock file could not be opened.</exception>
    public static async ValueTask<IAsyncDisposable> EnterAsync(string databasePath, CancellationToken cancellationToken)
    {
        var local = s_inProcess.GetOrAdd(databasePath, static _ => new SemaphoreSlim(1, 1));
        await local.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return new Held(local, await OpenExclusiveAsync(PathOf(databasePath), cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            local.Release();
            throw;
        }
    }

    private static async Task<FileStream> OpenExclusiveAsync(string path, CancellationToken cancellationToken)
    {
        long started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                // FileShare.None takes the OS's exclusive lock on the file (flock on Unix), refused while another
                // process holds it.
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new IOException($"The SQLite store's planning lock file '{path}' could not be opened: {e.Message}", e);
            }
            catch (IOException) when (File.Exists(path))
            {
                if (Stopwatch.GetElapsedTime(started) >= s_timeout)
                {
                    throw new TimeoutException($"The SQLite store's planning lock '{path}' was held by another process for more than {s_timeout.TotalSeconds:0} s.");
                }

                await Task.Delay(s_retry, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A held lock, released once.</summary>
    private sealed class Held(SemaphoreSlim local, FileStream file) : IAsyncDisposable
    {
        private SemaphoreSlim? _local = local;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _local, null) is { } held)
            {
                await file.DisposeAsync().ConfigureAwait(false);
                held.Release();
            }
        }
    }
}
