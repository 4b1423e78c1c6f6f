using Microsoft.Extensions.DependencyInjection;

namespace Durable.Scheduling;

/// <summary>
/// Returned by <c>AddScheduling</c>; storage packages add their <c>Use…</c> methods to it (<c>UseSqlite</c>,
/// <c>UsePostgreSql</c>).
/// </summary>
public sealed class SchedulingBuilder
{
    internal SchedulingBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Configures the scheduler's options (in addition to the <c>AddScheduling</c> delegate).</summary>
    /// <param name="configure">The configuration.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="configure"/> is null.</exception>
    public SchedulingBuilder Configure(Action<SchedulingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        Services.Configure(configure);
        return this;
    }

    /// <summary>Stores runs in the given store; see <see cref="SchedulingOptions.UseStore"/>.</summary>
    /// <param name="factory">Creates the store.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    public SchedulingBuilder UseStore(Func<IServiceProvider, ISchedulingStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return Configure(o => o.UseStore(factory));
    }

    /// <summary>Stores runs in memory (the default); see <see cref="SchedulingOptions.UseInMemoryStore"/>.</summary>
    /// <returns>This builder.</returns>
    public SchedulingBuilder UseInMemoryStore() => Configure(o => o.UseInMemoryStore());
}
