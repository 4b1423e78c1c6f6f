using System.Globalization;
using Durable.Scheduling;
using Durable.Scheduling.CrashHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// dotnet Durable.Scheduling.CrashHost.dll <database file> <observer log> <one-time burst size> [<seconds to run, 0 = until killed>] [<slow runs>] [long-lease]
// Runs an every-second schedule (paused when slow runs are asked for) and a burst of one-time runs on a SQLite file;
// every handler invocation appends "start|key|pid" and, when it returns, "end|key|pid" to the observer log, outside the
// database.
string database = args[0];
ObserverLog.Path = args[1];
int burst = int.Parse(args[2], CultureInfo.InvariantCulture);
int seconds = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 0;
int slow = args.Length > 4 ? int.Parse(args[4], CultureInfo.InvariantCulture) : 0;
bool longLease = args.Length > 5 && args[5] == "long-lease"; // a day, so no lease expires during a test; else 2 s, so takeovers come quickly

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Services.AddScheduling(o =>
{
    o.Assemblies.Add(typeof(CrashWorkflows).Assembly);
    o.LeaseDuration = longLease ? TimeSpan.FromDays(1) : TimeSpan.FromSeconds(2);
    o.PollInterval = TimeSpan.FromMilliseconds(200);
    o.LookAhead = TimeSpan.FromSeconds(2);
    o.MaxCatchUpRuns = 100_000;
}).UseSqlite($"Data Source={database}");
using var host = builder.Build();
Console.WriteLine($"starting {TimeProvider.System.GetUtcNow().UtcTicks}");
await host.StartAsync();

var scheduler = host.Services.GetRequiredService<IScheduler>();
if (slow > 0)
{
    // The pause scenario freezes this process mid-handler; the every-second schedule's writes would make it likelier
    // to freeze inside a write transaction, which holds the file's write lock and stalls every other process.
    await scheduler.Schedules.PauseAsync("crash-every-second", "pause scenario");
}

var now = TimeProvider.System.GetUtcNow();
await scheduler.ScheduleManyAsync(Enumerable.Range(0, burst).Select(i =>
    new RunRequest("crash-one-time", now.AddMilliseconds(20 * i), IdempotencyKey: "burst-" + i.ToString(CultureInfo.InvariantCulture))));
await scheduler.ScheduleManyAsync(Enumerable.Range(0, slow).Select(i =>
    new RunRequest("crash-slow", now, IdempotencyKey: "slow-" + i.ToString(CultureInfo.InvariantCulture))));
Console.WriteLine("ready");

if (seconds > 0)
{
    await Task.Delay(TimeSpan.FromSeconds(seconds));
    await host.StopAsync();
    Console.WriteLine("stopped");
    return 0;
}

await Task.Delay(Timeout.Infinite);
return 0;
