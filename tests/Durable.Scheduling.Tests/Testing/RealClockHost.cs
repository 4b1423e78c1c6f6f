using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Durable.Scheduling.Tests.Testing;

/// <summary>
/// A started Generic Host on the real clock (<see cref="TimeProvider.System"/>) running one workflow class, for the
/// tests of the real clock's own paths (precise waits, pool hand-over, batch starts). They assert outcomes and order,
/// never a duration.
/// </summary>
internal static class RealClockHost
{
    /// <summary>Builds and starts a host whose scheduler runs the workflows of <typeparamref name="TWorkflows"/> only.</summary>
    /// <param name="configure">Options beyond the workflow selection, or null.</param>
    /// <param name="services">More services (the workflows' state), or null. A <see cref="RunLog"/> is always there.</param>
    public static async Task<IHost> StartAsync<TWorkflows>(Action<SchedulingOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<RunLog>();
        builder.Services.AddSingleton(TimeProvider.System); // the workflows may take one
        services?.Invoke(builder.Services);
        builder.Services.AddScheduling(o =>
        {
            o.WorkflowTypes.Add(typeof(TWorkflows));
            configure?.Invoke(o);
        });
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>Polls <paramref name="condition"/> every 10 ms for at most 60 s; the caller's assertions say what failed.</summary>
    public static async Task UntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!condition() && !timeout.IsCancellationRequested)
        {
            await Task.Delay(10);
        }
    }
}
