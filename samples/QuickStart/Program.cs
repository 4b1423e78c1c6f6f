using System.Globalization;
using Durable.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QuickStart;

// dotnet run --project samples/QuickStart -- --duration 20
// Runs a [Scheduled("*/5 * * * * *")] workflow and one one-time run, printing each run's scheduled and actual time,
// then stops by itself after --duration seconds (default 20; 0 runs until Ctrl+C).
var duration = TimeSpan.FromSeconds(ReadDuration(args));
var builder = Host.CreateApplicationBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Services.AddScheduling();
builder.Services.AddSingleton<Reports>();

using var host = builder.Build();
await host.StartAsync();

var scheduler = host.Services.GetRequiredService<IScheduler>();
var runAt = TimeProvider.System.GetUtcNow().AddSeconds(3);
var reminder = await scheduler.ScheduleAsync<Reports>(r => r.SendReminder, runAt, new Reminder(42, "Your report is ready"),
    new Dictionary<string, string> { ["customer"] = "a" });
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

static int ReadDuration(string[] args)
{
    int at = Array.IndexOf(args, "--duration");
    return at >= 0 && at + 1 < args.Length && int.TryParse(args[at + 1], NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) ? seconds : 20;
}
