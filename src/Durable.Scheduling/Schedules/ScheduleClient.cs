using System.Text.Json;
using Durable.Scheduling.Engine;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Schedules;

/// <summary>The <see cref="ISchedules"/> behind dependency injection: validates, stores, and tells the engine.</summary>
internal sealed partial class ScheduleClient(ISchedulingStore store, WorkflowRegistry registry, IRunChanges changes, SchedulingOptions options, TimeProvider time, ILogger logger) : ISchedules
{
    private const int MaxUpdateAttempts = 10;
    private const int MaxBackfill = 10_000;

    public async ValueTask<ScheduleDescription> CreateAsync(ScheduleDefinition definition, bool paused = false, CancellationToken cancellationToken = default)
    {
        var (document, spec) = Validate(definition);
        var now = time.GetUtcNow();
        var stored = new StoredSchedule
        {
            Id = definition.Id,
            WorkflowName = definition.WorkflowName,
            Definition = document.ToJson(),
            Metadata = definition.Metadata,
            Paused = paused,
            CreatedAt = now,
            UpdatedAt = now,
            SpecSince = now,
            RemainingRuns = definition.MaxRuns,
        };
        if (!await store.CreateScheduleAsync(stored, cancellationToken).ConfigureAwait(false))
        {
            throw new ScheduleStateException(definition.Id, ScheduleRefusal.AlreadyExists, $"A schedule '{definition.Id}' exists already; use CreateOrUpdateAsync to change it.");
        }

        var told = await TellAsync(definition.Id, new CompiledDefinition(stored.Definition, document, spec), cancellationToken, createdAt: now).ConfigureAwait(false);
        // New: no runs yet. What was written, as read back if nobody changed it since (its counters are zero either way).
        var (created, ahead) = await WithMadeAheadAsync(told is { Version: 1 } ? told : stored with { Version = 1 }, definition.MaxRuns, now, DefaultFireTimes, cancellationToken).ConfigureAwait(false);
        return Describe(created, document, spec, now, DefaultFireTimes, ahead, []);
    }

    public async ValueTask<ScheduleDescription> CreateOrUpdateAsync(ScheduleDefinition definition, CancellationToken cancellationToken = default)
    {
        Validate(definition);
        for (int attempt = 0; attempt < MaxUpdateAttempts; attempt++)
        {
            var current = await store.GetScheduleAsync(definition.Id, cancellationToken).ConfigureAwait(false);
            if (current is null)
            {
                try
                {
                    return await CreateAsync(definition, paused: false, cancellationToken).ConfigureAwait(false);
                }
                catch (ScheduleStateException e) when (e.Reason == ScheduleRefusal.AlreadyExists)
                {
                    continue; // created meanwhile by another caller: update it
                }
            }

            RefuseCodeDefined(current, "update");
            if (await TryUpdateAsync(current, _ => definition, cancellationToken).ConfigureAwait(false) is { } done)
            {
                return done;
            }
        }

        throw Conflict(definition.Id);
    }

    public ValueTask PauseAsync(string id, string? note = null, CancellationToken cancellationToken = default) =>
        SetPausedAsync(id, paused: true, note, cancellationToken);

    public ValueTask ResumeAsync(string id, string? note = null, CancellationToken cancellationToken = default) =>
        SetPausedAsync(id, paused: false, note, cancellationToken);

    public async ValueTask<ScheduledRun> TriggerAsync(string id, OverlapPolicy? overlap = null, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        CheckOverlap(overlap, nameof(overlap));
        if (idempotencyKey is { Length: 0 })
        {
            throw new ArgumentException("The idempotency key must not be empty; pass null for none.", nameof(idempotencyKey));
        }

        Scheduler.CheckKeyLength(idempotencyKey, nameof(idempotencyKey));

        var stored = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        var document = ScheduleDocument.FromJson(stored.Definition);
        var now = time.GetUtcNow();
        var runId = RunIds.Next(now);
        var run = new ScheduledRun
        {
            Id = runId,
            WorkflowName = stored.WorkflowName,
            ScheduleId = id,
            Kind = RunKind.Triggered,
            IdempotencyKey = idempotencyKey is null ? null! : RunKeys.Triggered(id, idempotencyKey, runId),
            ScheduledTime = now,
            DueTime = now,
            Status = RunStatus.Pending,
            Input = document.Input?.GetRawText(),
            Metadata = stored.Metadata,
            Overlap = overlap,
            CreatedAt = now,
        };
        var result = await store.InsertOneAsync(run, cancellationToken).ConfigureAwait(false);
        if (result.Created)
        {
            changes.Created(result.Run, now); // counted in the schedule's Runs when first claimed
        }

        return result.Run;
    }

    public async ValueTask<IReadOnlyList<Guid>> BackfillAsync(string id, DateTimeOffset rangeStart, DateTimeOffset rangeEnd, OverlapPolicy? overlap = null, CancellationToken cancellationToken = default)
    {
        CheckOverlap(overlap, nameof(overlap));
        var now = time.GetUtcNow();
        var (start, end) = (rangeStart, rangeEnd);
        if (end <= start)
        {
            throw new ArgumentException($"The range [{start:O}, {end:O}) is empty or reversed.", nameof(rangeEnd));
        }

        if (end > now)
        {
            throw new ArgumentException($"A backfill runs past fire times: its end {end:O} is after now ({now:O}).", nameof(rangeEnd));
        }

        if (start < SchedulingLimits.EarliestRunTime)
        {
            // No run is scheduled before it, and instants near DateTimeOffset.MinValue are out of the clock's range.
            throw new ArgumentOutOfRangeException(nameof(rangeStart), start, $"A backfill starts at {SchedulingLimits.EarliestRunTime:O} at the earliest, the earliest time a run may have.");
        }

        var stored = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        var document = ScheduleDocument.FromJson(stored.Definition);
        var spec = CompiledSpec.Compile(document.Spec);
        var instants = new List<long>();
        for (long t = spec.NextUtc(start.UtcTicks - 1); t >= 0 && t < end.UtcTicks; t = spec.NextUtc(t))
        {
            if (instants.Count == MaxBackfill)
            {
                throw new ArgumentException($"The range holds more than {MaxBackfill:N0} fire times; backfill it in parts.", nameof(rangeEnd));
            }

            instants.Add(t);
        }

        string? input = document.Input?.GetRawText();
        ScheduledRun NewRun(long ticks, string? key) => new()
        {
            Id = RunIds.Next(now),
            WorkflowName = stored.WorkflowName,
            ScheduleId = id,
            Kind = RunKind.Backfill,
            IdempotencyKey = key!,
            ScheduledTime = new DateTimeOffset(ticks, TimeSpan.Zero),
            DueTime = new DateTimeOffset(ticks, TimeSpan.Zero),
            Status = RunStatus.Pending,
            Input = input,
            Metadata = stored.Metadata,
            Overlap = overlap,
            CreatedAt = now,
        };

        // Under the occurrence's own key first (a fire time runs once, however it came to run); a fire time whose
        // occurrence was skipped runs under a key of its own, so a second backfill finds it too.
        var first = await store.InsertAsync([.. instants.Select(t => NewRun(t, null))], cancellationToken).ConfigureAwait(false);
        var ids = new Guid[instants.Count];
        var again = new List<(int Index, ScheduledRun Run)>();
        var made = new List<ScheduledRun>();
        for (int i = 0; i < first.Count; i++)
        {
            ids[i] = first[i].Run.Id;
            if (first[i].Created)
            {
                made.Add(first[i].Run);
            }
            else if (first[i].Run.Status == RunStatus.Skipped)
            {
                again.Add((i, NewRun(instants[i], RunKeys.Occurrence(id, new DateTimeOffset(instants[i], TimeSpan.Zero)) + "~backfill")));
            }
        }

        if (again.Count > 0)
        {
            var second = await store.InsertAsync([.. again.Select(a => a.Run)], cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < second.Count; i++)
            {
                ids[again[i].Index] = second[i].Run.Id;
                if (second[i].Created)
                {
                    made.Add(second[i].Run);
                }
            }
        }

        foreach (var run in made)
        {
            changes.Created(run, now); // counted in the schedule's Runs when first claimed
        }

        return ids;
    }

    public async ValueTask<ScheduleDescription> UpdateAsync(string id, Func<ScheduleDefinition, ScheduleDefinition?> update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        for (int attempt = 0; attempt < MaxUpdateAttempts; attempt++)
        {
            var current = await GetAsync(id, cancellationToken).ConfigureAwait(false);
            RefuseCodeDefined(current, "update");
            if (await TryUpdateAsync(current, update, cancellationToken).ConfigureAwait(false) is { } done)
            {
                return done;
            }
        }

        throw Conflict(id);
    }

    public async ValueTask<bool> DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var current = await store.GetScheduleAsync(id, cancellationToken).ConfigureAwait(false);
        if (current is null)
        {
            return false;
        }

        RefuseCodeDefined(current, "delete");

        // Under the store's planning lock, as an update: no planner pass (of any instance) that read the schedule before
        // the delete creates its occurrences after the withdrawal.
        var planning = await store.EnterPlanningAsync(cancellationToken).ConfigureAwait(false);
        await using (planning.ConfigureAwait(false))
        {
            var now = time.GetUtcNow();
            if (!await store.DeleteScheduleAsync(id, now, cancellationToken).ConfigureAwait(false))
            {
                return false;
            }

            changes.ScheduleChanged(current with { Deleted = true, Sequence = current.Sequence + 1 });
            await WithdrawPendingAsync(new RunQuery { ScheduleId = id, Statuses = [RunStatus.Pending] }, cancellationToken).ConfigureAwait(false);
            return true;
        }
    }

    public IReadOnlyList<FireTime> Preview(ScheduleSpec spec, int count, DateTimeOffset? from = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, CronSchedule.MaxPreviewCount);
        if (from is { } start)
        {
            Scheduler.CheckRunTime(start, nameof(from));
        }

        return CompiledSpec.Compile(spec, refuseNeverFiring: true).Preview((from ?? time.GetUtcNow()).UtcTicks, count);
    }

    private async Task<ScheduleDescription?> TryUpdateAsync(StoredSchedule current, Func<ScheduleDefinition, ScheduleDefinition?> update, CancellationToken cancellationToken)
    {
        var oldDocument = ScheduleDocument.FromJson(current.Definition);
        var old = oldDocument.ToDefinition(current.Id, current.WorkflowName, current.Metadata);
        var changed = update(old);
        if (changed is null)
        {
            return await DescribeAsync(current.Id, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        if (changed.Id != current.Id)
        {
            throw new ScheduleSpecException("Id", $"an update cannot change the id ('{current.Id}' to '{changed.Id}').");
        }

        var (document, compiledSpec) = Validate(changed);
        bool metadataSame = changed.Metadata.Count == current.Metadata.Count && changed.Metadata.All(p => current.Metadata.TryGetValue(p.Key, out var v) && v == p.Value);
        if (document.ToJson() == oldDocument.ToJson() && changed.WorkflowName == current.WorkflowName && metadataSame)
        {
            return await DescribeAsync(current.Id, cancellationToken: cancellationToken).ConfigureAwait(false); // unchanged: nothing to write
        }

        // Under the store's planning lock, from the write to the withdrawal: a planner pass between the two (of any
        // instance sharing the store) would create occurrences of one definition and have them withdrawn with the old,
        // after moving its watermark past them, or create the old one's again after their withdrawal.
        var planning = await store.EnterPlanningAsync(cancellationToken).ConfigureAwait(false);
        await using (planning.ConfigureAwait(false))
        {
            if (!await WriteUpdateAsync().ConfigureAwait(false))
            {
                return null;
            }
        }

        return await DescribeAsync(current.Id, cancellationToken: cancellationToken).ConfigureAwait(false);

        async Task<bool> WriteUpdateAsync()
        {
            bool limitChanged = document.MaxRuns != oldDocument.MaxRuns;
            if (limitChanged &&
                (await store.GetScheduleAsync(current.Id, cancellationToken).ConfigureAwait(false))?.RemainingRuns != current.RemainingRuns)
            {
                // A new limit is set from the runs used so far: a pass that used some since they were read (counts
                // change no version) would have them used twice over or not at all. Read again and retry.
                return false;
            }

            var now = time.GetUtcNow();

            // What its occurrences are made of (when, which workflow, with what input and metadata) applies from now: the
            // occurrences created ahead with the old are withdrawn below, and the new are created afresh.
            bool specChanged = ScheduleDocument.SpecJson(document.Spec) != ScheduleDocument.SpecJson(oldDocument.Spec) || changed.WorkflowName != current.WorkflowName ||
                document.Input?.GetRawText() != oldDocument.Input?.GetRawText() || !metadataSame;
            long? remaining = document.MaxRuns is not { } max ? null
                : Math.Max(0, max - ((oldDocument.MaxRuns ?? 0) - (current.RemainingRuns ?? 0))); // runs used so far stay used
            var next = current with
            {
                WorkflowName = changed.WorkflowName,
                Definition = document.ToJson(),
                Metadata = changed.Metadata,
                UpdatedAt = now,
                SpecSince = specChanged ? now : current.SpecSince,
                RemainingRuns = remaining,
            };
            if (!await store.UpdateScheduleAsync(next, current.Version, limitChanged, cancellationToken).ConfigureAwait(false))
            {
                return false; // changed meanwhile: the caller reads it again and retries
            }

            if (specChanged)
            {
                // Occurrences created ahead under the old definition, not started: withdrawn; the new one creates its own.
                // A limited schedule gets them back in its remaining runs (they never ran). Done before the loop is told,
                // so that it plans the new definition with what remains.
                var withdrawn = await SpecChange.WithdrawAheadAsync(store, current.Id, now, cancellationToken).ConfigureAwait(false);
                foreach (var runId in withdrawn)
                {
                    changes.Removed(runId);
                }

                if (withdrawn.Count > 0 && remaining is not null && oldDocument.MaxRuns is not null)
                {
                    // (Only when they were counted: a schedule limited by this update never counted them.)
                    await store.AddScheduleCountsAsync([new ScheduleCountChange(current.Id, ScheduleCounters.Zero, -withdrawn.Count)], cancellationToken).ConfigureAwait(false);
                }

                await SpecChange.RestartWatermarkAsync(store, current.Id, now, now.AddTicks(1), cancellationToken).ConfigureAwait(false);
            }

            await TellAsync(current.Id, new CompiledDefinition(next.Definition, document, compiledSpec), cancellationToken).ConfigureAwait(false);
            return true;
        }
    }

    private async ValueTask SetPausedAsync(string id, bool paused, string? note, CancellationToken cancellationToken)
    {
        if (!paused)
        {
            // A resume decides about the occurrences held in the pause before the schedule is active again, under the
            // planning lock (no pass plans the schedule meanwhile): see ResumeCatchUp.
            var planning = await store.EnterPlanningAsync(cancellationToken).ConfigureAwait(false);
            await using (planning.ConfigureAwait(false))
            {
                await WritePausedAsync(id, paused, note, cancellationToken).ConfigureAwait(false);
                return;
            }
        }

        await WritePausedAsync(id, paused, note, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask WritePausedAsync(string id, bool paused, string? note, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < MaxUpdateAttempts; attempt++)
        {
            var current = await GetAsync(id, cancellationToken).ConfigureAwait(false);
            if (!paused && current.Paused)
            {
                await ResumeCatchUp.SkipDroppedAsync(store, current, options, logger, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            }

            var next = current with { Paused = paused, Note = note, UpdatedAt = time.GetUtcNow() };
            if (await store.UpdateScheduleAsync(next, current.Version, setRemainingRuns: false, cancellationToken).ConfigureAwait(false))
            {
                await TellAsync(id, null, cancellationToken).ConfigureAwait(false);
                return;
            }
        }

        throw Conflict(id);
    }

    /// <summary>Deletes the pending runs <paramref name="query"/> selects and tells the loop; returns how many.</summary>
    private async Task<int> WithdrawPendingAsync(RunQuery query, CancellationToken cancellationToken)
    {
        var withdrawn = await store.DeleteAsync(query, cancellationToken).ConfigureAwait(false);
        foreach (var runId in withdrawn)
        {
            changes.Removed(runId);
        }

        return withdrawn.Count;
    }

    /// <summary>
    /// Tells this process's loop the schedule's state as stored (read back, with its sequence) before the call returns,
    /// with <paramref name="compiled"/>, the definition the caller just validated, when at hand.
    /// </summary>
    /// <param name="id">The schedule.</param>
    /// <param name="compiled">Its definition as the caller wrote it, or null.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <param name="createdAt">When the caller created it (a state read back at version 1, as written, is the new one).</param>
    /// <returns>The state read back, or null when it is gone (deleted meanwhile).</returns>
    private async ValueTask<StoredSchedule?> TellAsync(string id, CompiledDefinition? compiled, CancellationToken cancellationToken, DateTimeOffset? createdAt = null)
    {
        var stored = await store.GetScheduleAsync(id, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            return null;
        }

        // Another writer may have changed it since: the compiled form is only the stored one's if the JSON is.
        compiled = compiled is not null && stored.Definition == compiled.Json ? compiled : null;
        if (createdAt is { } now && compiled is not null && stored.Version == 1)
        {
            changes.ScheduleCreated(stored, compiled, now);
        }
        else
        {
            changes.ScheduleChanged(stored, compiled);
        }

        return stored;
    }

    private async ValueTask<StoredSchedule> GetAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        return await store.GetScheduleAsync(id, cancellationToken).ConfigureAwait(false) ?? throw ScheduleNotFoundException.For(id);
    }

    private static void RefuseCodeDefined(StoredSchedule schedule, string action)
    {
        if (schedule.CodeDefined)
        {
            throw new ScheduleStateException(schedule.Id, ScheduleRefusal.CodeDefined, $"Schedule '{schedule.Id}' is defined in code ([Scheduled] on {schedule.WorkflowName}): {action} it by changing or removing the attribute. It can be paused, resumed, triggered and backfilled here.");
        }
    }

    private static void CheckOverlap(OverlapPolicy? overlap, string parameter)
    {
        if (overlap is { } policy && !Enum.IsDefined(policy))
        {
            throw new ArgumentOutOfRangeException(parameter, policy, "Not a defined OverlapPolicy.");
        }
    }

    private static ScheduleStateException Conflict(string id) =>
        new(id, ScheduleRefusal.Conflict, $"Schedule '{id}' kept changing while it was being updated ({MaxUpdateAttempts} attempts); try again.");
}
