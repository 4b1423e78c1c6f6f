using System.Text.Json;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Schedules;

/// <summary>
/// What a resume decides while its schedule is still paused: the occurrences held in the pause (made ahead, now overdue)
/// that the catch-up policy will not run are skipped before the schedule is active again. Once it is, any instance
/// sharing the store may claim a held occurrence, and the planner's catch-up pass that would skip it comes a moment
/// later. The planner then decides about what is left (the held ones kept, the fire times never made) as it always
/// does, and comes to the same decision: the same policy over the same fire times, in a window that has only moved on.
/// </summary>
internal static class ResumeCatchUp
{
    private const int PageSize = 1000;

    /// <summary>
    /// Skips the held occurrences of <paramref name="schedule"/> (paused, about to be resumed) that its catch-up policy
    /// drops, counts them missed and logs them (as the planner logs what its catch-up leaves unrun). The caller holds the
    /// store's planning lock. A definition this version cannot read is left to the planner.
    /// </summary>
    public static async Task SkipDroppedAsync(ISchedulingStore store, StoredSchedule schedule, SchedulingOptions options, ILogger logger, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var held = await HeldAsync(store, schedule.Id, now, cancellationToken).ConfigureAwait(false);
        if (held.Count == 0)
        {
            return;
        }

        ScheduleDocument document;
        CompiledSpec spec;
        try
        {
            document = ScheduleDocument.FromJson(schedule.Definition);
            spec = CompiledSpec.Compile(document.Spec);
        }
        catch (Exception e) when (e is JsonException or ScheduleSpecException or NotSupportedException)
        {
            return;
        }

        int keep = document.CatchUp switch
        {
            CatchUpPolicy.ExactlyOncePerInterval => options.MaxCatchUpRuns,
            CatchUpPolicy.Latest => 1,
            _ => 0,
        };
        long windowStart = now.UtcTicks - (document.CatchUpWindow ?? options.CatchUpWindow).Ticks;
        var kept = keep == 0 ? [] : await KeptAsync(store, schedule, spec, held, keep, windowStart, now, cancellationToken).ConfigureAwait(false);
        var dropped = held.Where(h => !kept.Contains(h.Id)).ToList();
        if (dropped.Count == 0)
        {
            return;
        }

        var reason = new RunError("Durable.Scheduling.CatchUpPolicy", $"Missed while its schedule was paused; not run under catch-up policy {document.CatchUp} (window {document.CatchUpWindow ?? options.CatchUpWindow}, at most {options.MaxCatchUpRuns} runs).");
        var skipped = await store.SkipPendingAsync([.. dropped.Select(d => d.Id)], now, reason, cancellationToken).ConfigureAwait(false);
        if (skipped.Count > 0)
        {
            Log.OccurrencesMissedWhilePaused(logger, schedule.Id, skipped.Count, new DateTimeOffset(dropped[0].Ticks, TimeSpan.Zero), now, document.CatchUp);
            // Counted here once: the planner's own catch-up finds them skipped already and does not count them again.
            await store.AddScheduleCountsAsync([new ScheduleCountChange(schedule.Id, new ScheduleCounters { Missed = skipped.Count })], cancellationToken).ConfigureAwait(false);
            SchedulingTelemetry.OccurrencesMissed.Add(skipped.Count, new KeyValuePair<string, object?>("workflow", schedule.WorkflowName), new KeyValuePair<string, object?>("schedule", schedule.Id));
        }
    }

    /// <summary>The schedule's pending occurrences whose fire time has passed, in time order.</summary>
    private static async Task<List<(long Ticks, Guid Id)>> HeldAsync(ISchedulingStore store, string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var held = new List<(long Ticks, Guid Id)>();
        var query = new RunQuery { ScheduleId = id, Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending], ScheduledTo = now, PageSize = PageSize };
        do
        {
            var page = await store.ListAsync(query, cancellationToken).ConfigureAwait(false);
            held.AddRange(page.Items.Select(r => (r.ScheduledTime.UtcTicks, r.Id)));
            query = query with { ContinuationToken = page.ContinuationToken };
        }
        while (query.ContinuationToken is not null);
        held.Sort(static (a, b) => a.Ticks.CompareTo(b.Ticks));
        return held;
    }

    /// <summary>
    /// The held occurrences the policy runs: of every fire time in the window (held, or after the watermark and never
    /// made), the latest <paramref name="keep"/>, as the planner's catch-up chooses them. Fire times past a limit used up
    /// are not occurrences, so they take no place.
    /// </summary>
    private static async Task<HashSet<Guid>> KeptAsync(ISchedulingStore store, StoredSchedule schedule, CompiledSpec spec, List<(long Ticks, Guid Id)> held, int keep, long windowStart, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var latest = new Queue<(long Ticks, Guid? Id)>(keep);
        void Consider(long ticks, Guid? id)
        {
            if (latest.Count == keep)
            {
                latest.Dequeue();
            }

            latest.Enqueue((ticks, id));
        }

        var heldTicks = held.Select(h => h.Ticks).ToHashSet();
        int next = 0;
        void ConsiderHeldBefore(long limit)
        {
            for (; next < held.Count && held[next].Ticks < limit; next++)
            {
                if (held[next].Ticks >= windowStart)
                {
                    Consider(held[next].Ticks, held[next].Id);
                }
            }
        }

        if (schedule.RemainingRuns is not <= 0)
        {
            long watermark = await WatermarkAsync(store, schedule, cancellationToken).ConfigureAwait(false);
            for (long t = spec.NextUtc(Math.Max(watermark, windowStart - 1)); t >= 0 && t < now.UtcTicks; t = spec.NextUtc(t))
            {
                ConsiderHeldBefore(t);
                if (!heldTicks.Contains(t))
                {
                    Consider(t, null); // never made: the planner makes it
                }
            }
        }

        ConsiderHeldBefore(long.MaxValue);
        return [.. latest.Where(l => l.Id is not null).Select(l => l.Id!.Value)];
    }

    /// <summary>
    /// The stored watermark of the schedule's current spec (fire times after it were never made), or where the planner
    /// starts one never planned.
    /// </summary>
    private static async Task<long> WatermarkAsync(ISchedulingStore store, StoredSchedule schedule, CancellationToken cancellationToken)
    {
        string key = WatermarkNames.Of(schedule);
        var stored = await store.GetWatermarksAsync([key], cancellationToken).ConfigureAwait(false);
        return stored.TryGetValue(key, out var watermark) ? watermark.UtcTicks : schedule.SpecSince.UtcTicks - (schedule.CodeDefined ? 1 : 0);
    }
}
