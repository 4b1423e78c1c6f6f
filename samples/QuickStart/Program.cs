using System.Globalization;
using Durable.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QuickStart;

// dotnet run --project samples/QuickStart -- --duration 20 [--db quickstart.db]
// Runs a [Scheduled("*/5 * * * * *")] workflow and one one-time run on a SQLite file, printing each run's scheduled and
// actual time, then stops by itself after --duration seconds (default 20; 0 runs until Ctrl+C). Stop it, wait, start
// it again: the occurrences missed meanwhile are caught up (each once, started in the order of their instants) before
// the schedule goes on.
var duration = TimeSpan.FromSeconds(ReadDuration(args));
string database = ReadOption(args, "--db") ?? "quickstart.db";
var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddScheduling().UseSqlite($"Data Source={database}");
builder.Services.AddSingleton<Reports>();

using var host = builder.Build();
await host.StartAsync();

var scheduler = host.Services.GetRequiredService<IScheduler>();
var runAt = TimeProvider.System.GetUtcNow().AddSeconds(3);
var reminder = await scheduler.ScheduleAsync<Reports>(r => r.SendReminder, runAt, new Reminder(42, "Your report is ready"),
    new Dictionary<string, string> { ["customer"] = "a" });
Console.WriteLine($"Store: {Path.GetFullPath(database)}");
Console.WriteLine($"Scheduled one-time run {reminder.Id} of '{reminder.WorkflowName}' for {reminder.ScheduledTime:HH:mm:ss.fff}Z.");
Console.WriteLine(duration > TimeSpan.Zero ? $"Running for {duration.TotalSeconds:0} s..." : "Running until Ctrl+C...");

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
if (duration > TimeSpan.Zero)
{
    stop.CancelAfter(duration);
}

try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
    // time is up
}

await host.StopAsync();
var done = await scheduler.GetAsync(reminder.Id);
Console.WriteLine($"One-time run {reminder.Id}: {done?.Status}.");
return 0;

static int ReadDuration(string[] args) =>
    int.TryParse(ReadOption(args, "--duration"), NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) ? seconds : 20;

static string? ReadOption(string[] args, string name)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}
