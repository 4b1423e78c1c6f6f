using System.Globalization;
using Durable.Scheduling;
using Durable.Scheduling.FleetHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// dotnet Durable.Scheduling.FleetHost.dll <connection string> <schema> <observer log> <instance id> <clock skew ms> [overlap]
// One instance of the fleet: an every-second schedule and the one-time workflow on a shared PostgreSQL schema (with
// "overlap": an every-second schedule under OverlapPolicy.Skip whose handler takes 2.5 s, and nothing else), until
// SIGTERM (a graceful stop) or SIGKILL. Its connections carry the application name "fleet-<instance id>", so the
// nemesis can cut them.
string connectionString = args[0];
string schema = args[1];
ObserverLog.Path = args[2];
ObserverLog.Instance = args[3];
var skew = TimeSpan.FromMilliseconds(int.Parse(args[4], CultureInfo.InvariantCulture));

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
if (skew != TimeSpan.Zero)
{
    builder.Services.AddSingleton<TimeProvider>(new SkewedClock(skew));
}

builder.Services.AddScheduling(o =>
{
    o.WorkflowTypes.Add(args.Length > 5 && args[5] == "overlap" ? typeof(FleetOverlapWorkflows) : typeof(FleetWorkflows));
    o.InstanceId = args[3];
    o.LeaseDuration = TimeSpan.FromSeconds(2);
    o.PollInterval = TimeSpan.FromMilliseconds(200);
    o.MaxCatchUpRuns = 100_000;
}).UsePostgreSql($"{connectionString};Application Name=fleet-{args[3]}", o => o.Schema = schema);
using var host = builder.Build();
await host.StartAsync();
Console.WriteLine("ready");
await host.WaitForShutdownAsync();
Console.WriteLine("stopped");
return 0;
