using System.Diagnostics;
using System.Globalization;
using Hangfire;
using Hangfire.Storage.SQLite;
using SQLite;

// Hangfire 1.8 on Hangfire.Storage.SQLite, one measure per process, asked for by `-- sqlite-peers`:
//   bulk <file> <count>             jobs scheduled for tomorrow, one call each from one caller (Hangfire has no bulk API)
//   single <file> <count> <callers> the same from concurrent callers
//   due <file> <count> <workers>    jobs enqueued (due now) from one caller, run by a server with that many workers
// Prints "rate <runs per second>" and "synchronous <PRAGMA synchronous of the file>" on success.
if (args.Length < 3)
{
    Console.Error.WriteLine("usage: bulk|single|due <file> <count> [callers|workers]");
    return 2;
}

string mode = args[0], file = args[1];
int count = int.Parse(args[2], CultureInfo.InvariantCulture);
int parallel = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 1;

// WAL is the storage's default journal mode; synchronous is left at SQLite's default, as for the other contenders.
// The queue is polled every 100 ms (its default polls an empty queue every 15 s).
var storage = new SQLiteStorage(file, new SQLiteStorageOptions { QueuePollInterval = TimeSpan.FromMilliseconds(100) });
var client = new BackgroundJobClient(storage);
client.Schedule(() => PeerJobs.Noop(), TimeSpan.FromDays(1)); // the schema in place before timing

double rate;
switch (mode)
{
    case "bulk":
    case "single":
    {
        var watch = Stopwatch.StartNew();
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, (_, _) =>
        {
            client.Schedule(() => PeerJobs.Noop(), TimeSpan.FromDays(1));
            return ValueTask.CompletedTask;
        });
        rate = count / watch.Elapsed.TotalSeconds;
        break;
    }

    case "due":
    {
        using var server = new BackgroundJobServer(new BackgroundJobServerOptions { WorkerCount = parallel }, storage);
        await Task.Delay(1000); // the server registered and polling
        PeerJobs.Expect(count);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            client.Enqueue(() => PeerJobs.Noop());
        }

        await PeerJobs.Finished;
        rate = count / watch.Elapsed.TotalSeconds;
        server.SendStop();
        break;
    }

    default:
        Console.Error.WriteLine($"unknown mode '{mode}'");
        return 2;
}

using (var connection = new SQLiteConnection(file))
{
    Console.WriteLine($"synchronous {connection.ExecuteScalar<int>("PRAGMA synchronous")}, journal {connection.ExecuteScalar<string>("PRAGMA journal_mode")}");
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rate {rate:F1}"));
return 0;

/// <summary>The job (public: Hangfire serializes the call); counts the runs that are expected.</summary>
public static class PeerJobs
{
    private static int s_left;
    private static TaskCompletionSource s_done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static Task Finished => s_done.Task;

    public static void Expect(int count)
    {
        s_done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref s_left, count);
    }

    public static void Noop()
    {
        if (Interlocked.Decrement(ref s_left) == 0)
        {
            s_done.TrySetResult();
        }
    }
}
