using Durable.Scheduling;
using Durable.Scheduling.Engine;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds the scheduler's health check to <c>services.AddHealthChecks()</c>.</summary>
public static class SchedulingHealthChecksBuilderExtensions
{
    /// <summary>The check's name unless another is given.</summary>
    public const string DefaultName = "durable-scheduling";

    /// <summary>
    /// Adds a health check of this process's scheduler (registered by <c>AddScheduling</c>). It reads what the scheduler
    /// last reported and makes no store call of its own, except in a process that executes no runs. Thread-safe; cheap
    /// enough for a liveness probe.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name; default <see cref="DefaultName"/>.</param>
    /// <param name="failureStatus">What a failure reports; default <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (for example "ready"); default none.</param>
    /// <param name="timeout">How long the check may take; default none (it answers at once unless it reads the store).</param>
    /// <returns>The builder.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="builder"/> or <paramref name="name"/> is null.</exception>
    /// <remarks>
    /// <para>It reports, in this order:</para>
    /// <list type="bullet">
    /// <item><description>In a process with <see cref="SchedulingOptions.ExecuteRuns"/> false: healthy when one cheap
    /// read of the store succeeds, the failure status (with the exception) when it fails.</description></item>
    /// <item><description>The failure status when the scheduler has not started or has begun stopping.</description></item>
    /// <item><description>The failure status while the scheduler's passes fail (the store is unreachable, locked or
    /// failing), naming the last exception and how many passes in a row failed; it is healthy again from the first pass
    /// that succeeds (after a failed feed, once a feed succeeds: runs loaded before still start meanwhile).</description></item>
    /// <item><description>The failure status when the scheduler's loop has not ended a pass for ten poll intervals
    /// (at least 30 s) on its <see cref="TimeProvider"/>: it never sleeps longer than one, so a store call
    /// hangs.</description></item>
    /// <item><description><see cref="HealthStatus.Degraded"/> while handlers run on past their workflow's timeout
    /// (they do not heed their cancellation token): each keeps a concurrency slot. The loop counts them at each feed,
    /// so this shows (and clears) up to about a poll interval late.</description></item>
    /// <item><description>Healthy otherwise.</description></item>
    /// </list>
    /// <para>Its data holds <c>running_handlers</c>, <c>overdue_handlers</c>, <c>failed_passes_in_a_row</c> and
    /// <c>last_pass_ended</c> (UTC, round-trip format).</para>
    /// <para>Without <c>AddScheduling</c> the check reports the failure status, saying so.</para>
    /// </remarks>
    public static IHealthChecksBuilder AddScheduling(this IHealthChecksBuilder builder, string name = DefaultName, HealthStatus? failureStatus = null, IEnumerable<string>? tags = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(name);
        return builder.Add(new HealthCheckRegistration(name, Create, failureStatus, tags, timeout));

        static IHealthCheck Create(IServiceProvider services) =>
            services.GetService<SchedulerHost>() is { } host
                ? new SchedulingHealthCheck(host, services.GetRequiredService<IOptions<SchedulingOptions>>().Value, services.GetRequiredService<TimeProvider>())
                : new NotRegistered();
    }

    /// <summary>The check when the scheduler was never added: a failure that says so.</summary>
    private sealed class NotRegistered : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, "Durable.Scheduling is not registered: call services.AddScheduling()."));
    }
}
