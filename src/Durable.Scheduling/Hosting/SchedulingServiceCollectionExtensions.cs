using Durable.Scheduling;
using Durable.Scheduling.Engine;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Durable.Scheduling in a service collection.</summary>
public static class SchedulingServiceCollectionExtensions
{
    /// <summary>
    /// Adds the scheduler: <see cref="IScheduler"/>, the hosted service that runs workflows, and (unless another store
    /// is chosen) the in-memory store. Idempotent: a second call only adds its configuration.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Configures <see cref="SchedulingOptions"/>; optional.</param>
    /// <returns>A builder that storage packages extend.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> is null.</exception>
    /// <remarks>
    /// The scheduler takes its <see cref="TimeProvider"/> from the container when one is registered, and
    /// <see cref="TimeProvider.System"/> otherwise. Workflows are discovered when the host starts; misconfigured
    /// workflows stop start-up with one <see cref="SchedulingConfigurationException"/> listing them all. After start,
    /// no exception from a handler or store escapes to the host: failures are recorded, logged and retried.
    /// </remarks>
    public static SchedulingBuilder AddScheduling(this IServiceCollection services, Action<SchedulingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (configure is not null)
        {
            services.Configure(configure);
        }

        if (services.Any(d => d.ServiceType == typeof(SchedulingMarker)))
        {
            return new SchedulingBuilder(services);
        }

        services.AddSingleton<SchedulingMarker>();
        services.AddOptions<SchedulingOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<SchedulingOptions>, SchedulingOptionsValidator>());
        services.TryAddSingleton<ISchedulingStore>(_ => new InMemorySchedulingStore());
        services.TryAddSingleton(TimeProvider.System); // workflows may take it; a TimeProvider registered by the app wins
        services.TryAddSingleton<WorkflowRegistry>();
        services.TryAddSingleton<SchedulerHost>();
        services.TryAddSingleton<IRunChanges>(sp => sp.GetRequiredService<SchedulerHost>().Changes);
        services.TryAddSingleton<IScheduler, Scheduler>();
        services.TryAddSingleton<ISchedules>(sp => sp.GetRequiredService<IScheduler>().Schedules);
        services.TryAddSingleton<ISchedulerActivity>(sp => sp.GetRequiredService<SchedulerHost>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<SchedulerHost>());
        return new SchedulingBuilder(services);
    }

    private sealed class SchedulingMarker;
}
