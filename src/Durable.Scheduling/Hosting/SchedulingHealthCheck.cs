using System.Globalization;
using Durable.Scheduling.Engine;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Durable.Scheduling;

/// <summary>
/// The health of this process's scheduler, from what its loop last reported (no store call, except in a process that
/// executes no runs, where one cheap read shows whether the store answers). The rules are documented on
/// <see cref="Microsoft.Extensions.DependencyInjection.SchedulingHealthChecksBuilderExtensions.AddScheduling"/>.
/// </summary>
internal sealed class SchedulingHealthCheck(SchedulerHost host, SchedulingOptions options, TimeProvider time) : IHealthCheck
{
    /// <summary>How long the loop may go without ending a pass before it is reported stuck: it never sleeps longer than a poll interval.</summary>
    internal static TimeSpan StuckAfter(TimeSpan pollInterval) => pollInterval * 10 > TimeSpan.FromSeconds(30) ? pollInterval * 10 : TimeSpan.FromSeconds(30);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var failure = context.Registration.FailureStatus;
        if (!options.ExecuteRuns)
        {
            try
            {
                await host.ProbeStoreAsync(cancellationToken).ConfigureAwait(false);
                return HealthCheckResult.Healthy("This process executes no runs (ExecuteRuns is false); its store answers.");
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                return new HealthCheckResult(failure, $"The store does not answer: {e.GetType().Name}: {e.Message}", e);
            }
        }

        if (host.Stopping)
        {
            return new HealthCheckResult(failure, "The scheduler has stopped: no run starts in this process.");
        }

        if (host.Health is not { } health)
        {
            return new HealthCheckResult(failure, "The scheduler has not started (the host's hosted services have not started yet).");
        }

        int failures = health.Failures;
        int overdue = health.OverdueHandlers;
        long progress = health.ProgressTicks;
        var data = new Dictionary<string, object>
        {
            ["running_handlers"] = host.RunningHandlers,
            ["overdue_handlers"] = overdue,
            ["failed_passes_in_a_row"] = failures,
        };
        if (progress != long.MinValue)
        {
            data["last_pass_ended"] = new DateTimeOffset(progress, TimeSpan.Zero).ToString("O", CultureInfo.InvariantCulture);
        }

        if (failures > 0 && health.LastError is { } error)
        {
            return new HealthCheckResult(failure, $"The scheduler's last {failures} pass(es) failed, retried with back-off: {error.GetType().Name}: {error.Message}", error, data);
        }

        var stuckAfter = StuckAfter(options.PollInterval);
        var since = progress == long.MinValue ? TimeSpan.Zero : TimeSpan.FromTicks(time.GetUtcNow().UtcTicks - progress);
        if (since > stuckAfter)
        {
            return new HealthCheckResult(failure, $"The scheduler's loop has not ended a pass for {since} (more than {stuckAfter}): a store call may hang.", null, data);
        }

        if (overdue > 0)
        {
            return HealthCheckResult.Degraded($"{overdue} handler(s) run on past their workflow's timeout without heeding cancellation: each holds a concurrency slot (and its schedule's overlap).", null, data);
        }

        return HealthCheckResult.Healthy($"The scheduler runs: {host.RunningHandlers} handler(s) running.", data);
    }
}
