using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Schedules;

/// <summary>
/// Stores the code-defined schedules (<c>[Scheduled]</c>) as schedules named after their workflows: created at the first
/// start, their spec and policies re-applied from code at every start, their state (pause, note, counters, watermark)
/// kept. Run once: by the host's start-up when the store answers then, else by the loop's first feed (retried with it
/// while the store is down).
/// </summary>
internal sealed class CodeSchedules(ISchedulingStore store, IEnumerable<WorkflowDescriptor> workflows, ILogger logger)
{
    private const int MaxAttempts = 10;
    private readonly List<(string Name, DateTimeOffset Since)> _respecced = []; // spec changed; old occurrences not yet withdrawn
    private bool _done;

    /// <summary>The ids of the schedules this process defines in code.</summary>
    public HashSet<string> Ids { get; } = [.. workflows.Where(w => w.Schedule is not null).Select(w => w.Name)];

    /// <summary>True once every code-defined schedule is stored as the code defines it.</summary>
    public bool Synced => _done;

    public async Task SyncOnceAsync(DateTimeOffset now, CancellationToken stop)
    {
        if (_done)
        {
            return;
        }

        await WithdrawAheadAsync(stop).ConfigureAwait(false); // what a failed pass left (its definition was written)

        foreach (var workflow in workflows)
        {
            if (workflow.Schedule is { } schedule)
            {
                await SyncAsync(workflow.Name, schedule, now, stop).ConfigureAwait(false);
            }
        }

        _done = true;
    }

    private async Task WithdrawAheadAsync(CancellationToken stop)
    {
        while (_respecced.Count > 0)
        {
            var (name, since) = _respecced[^1];
            await SpecChange.WithdrawAheadAsync(store, name, since, stop).ConfigureAwait(false);
            // A tick back, not on: a code-defined schedule's first fire time may be the start instant itself.
            await SpecChange.RestartWatermarkAsync(store, name, since, since.AddTicks(-1), stop).ConfigureAwait(false);
            _respecced.RemoveAt(_respecced.Count - 1);
        }
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

            // A spec changed in code applies from this start, as an update does (see SpecChange): after the write, the
            // occurrences its old spec created ahead and not yet due are withdrawn (those that fell due while the
            // process was down stay, for the catch-up policy), and the new spec gets a watermark of its own (the old
            // one's lies past fire times the new may have).
            bool specChanged = ScheduleDocument.SpecJson(ScheduleDocument.FromJson(current.Definition).Spec) != ScheduleDocument.SpecJson(spec);
            var changed = current with { Definition = definition, UpdatedAt = now, SpecSince = specChanged ? now : current.SpecSince };
            if (await store.UpdateScheduleAsync(changed, current.Version, setRemainingRuns: false, stop).ConfigureAwait(false))
            {
                if (specChanged)
                {
                    _respecced.Add((name, now));
                    await WithdrawAheadAsync(stop).ConfigureAwait(false);
                }

                return;
            }
        }
    }
}
