using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

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

    /// <summary>
    /// Stores runs in a store of your own (or a storage package's): the one place the store is chosen; the last call
    /// wins. The store is created once, from the application's services, and disposed with them.
    /// </summary>
    /// <param name="factory">Creates the store.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="factory"/> is null.</exception>
    public SchedulingBuilder UseStore(Func<IServiceProvider, ISchedulingStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.RemoveAll<ISchedulingStore>();
        Services.AddSingleton(factory);
        return this;
    }

    /// <summary>Stores runs in memory (the default): fast, but lost with the process.</summary>
    /// <param name="maxEndedRuns">The most ended runs kept (see <see cref="InMemorySchedulingStore"/>); default
    /// <see cref="InMemorySchedulingStore.DefaultMaxEndedRuns"/>.</param>
    /// <returns>This builder.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxEndedRuns"/> is zero or negative.</exception>
    public SchedulingBuilder UseInMemoryStore(int maxEndedRuns = InMemorySchedulingStore.DefaultMaxEndedRuns)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEndedRuns);
        return UseStore(_ => new InMemorySchedulingStore(maxEndedRuns));
    }
}
