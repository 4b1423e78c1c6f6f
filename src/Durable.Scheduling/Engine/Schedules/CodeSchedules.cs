using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Schedules;

/// <summary>
/// Stores the code-defined schedules (<c>[Scheduled]</c>) as schedules named after their workflows: created at the first
/// start, their spec and policies re-applied from code at every start, their state (pause, note, counters, watermark)
/// kept. Run once by the loop's first feed (retried with it while the store is down).
/// </summary>
internal sealed class CodeSchedules(ISchedulingStore store, IEnumerable<WorkflowDescriptor> workflows, ILogger logger)
{
    private const int MaxAttempts = 10;
    private bool _done;

    /// <summary>The ids of the schedules this process defines in code.</summary>
    public HashSet<string> Ids { get; } = [.. workflows.Where(w => w.Schedule is not null).Select(w => w.Name)];

    public async Task SyncOnceAsync(DateTimeOffset now, CancellationToken stop)
    {
        if (_done)
        {
            return;
        }

        foreach (var workflow in workflows)
        {
            if (workflow.Schedule is { } schedule)
            {
                await SyncAsync(workflow.Name, schedule, now, stop).ConfigureAwait(false);
            }
        }

        _done = true;
    }

    private async Task SyncAsync(string name, RecurringSchedule schedule, DateTimeOffset now, CancellationToken stop)
    {
        for (int attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var current = await store.GetScheduleAsync(name, stop).ConfigureAwait(false);
            if (current is { CodeDefined: false })
            {
                // A schedule made at run time holds the name: it stays as it is, and the code's is not run (said once).
                Ids.Remove(name);
                Log.CodeScheduleShadowed(logger, name);
                return;
            }

            var spec = schedule.Spec;
            if (schedule.IsInterval)
            {
                // First run at once: the phase is the instant the schedule was first stored, kept while the interval is.
                // An offset is whole seconds, so that instant is rounded up to one: rounded down, the first fire time
                // would fall before the start (when the start is not on a whole second), and so never run.
                var every = spec.Intervals[0].Every;
                var kept = current is null ? null : ScheduleDocument.FromJson(current.Definition).Spec.Intervals.FirstOrDefault(i => i.Every == every);
                long sinceEpoch = now.UtcTicks - DateTime.UnixEpoch.Ticks;
                long phase = kept?.Offset.Ticks ?? ((sinceEpoch + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond % every.Ticks);
                spec = spec with { Intervals = [new ScheduleInterval(every, TimeSpan.FromTicks(phase))] };
            }

            string definition = new ScheduleDocument { Spec = spec, CatchUp = schedule.CatchUp, Overlap = schedule.Overlap }.ToJson();
            if (current is null)
            {
                var created = new StoredSchedule
                {
                    Id = name,
                    WorkflowName = name,
                    Definition = definition,
                    CodeDefined = true,
                    CreatedAt = now,
                    UpdatedAt = now,
                    SpecSince = now,
                };
                if (await store.CreateScheduleAsync(created, stop).ConfigureAwait(false))
                {
                    return;
                }

                continue; // another instance stored it meanwhile
            }

            if (current.Definition == definition)
            {
                return;
            }

            bool specChanged = ScheduleDocument.SpecJson(ScheduleDocument.FromJson(current.Definition).Spec) != ScheduleDocument.SpecJson(spec);
            if (specChanged)
            {
                // The spec in code changed: it applies from this start, as an update does. Occurrences the old one
                // created ahead and not yet due are withdrawn (first, so a retry after a failure withdraws them too),
                // and the new spec gets a watermark of its own (the old one's lies past fire times the new has).
                // Those that fell due while the process was down stay, for the catch-up policy.
                await store.DeleteAsync(new RunQuery { ScheduleId = name, Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending], ScheduledFrom = now }, stop).ConfigureAwait(false);
            }

            var changed = current with { Definition = definition, UpdatedAt = now, SpecSince = specChanged ? now : current.SpecSince };
            if (await store.UpdateScheduleAsync(changed, current.Version, setRemainingRuns: false, stop).ConfigureAwait(false))
            {
                return;
            }
        }
    }
}
