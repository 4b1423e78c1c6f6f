using System.Text.Json;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Schedules;

/// <summary>What <see cref="ScheduleClient"/> reads back: a schedule described, a page of schedules listed.</summary>
internal sealed partial class ScheduleClient
{
    private const int DefaultFireTimes = 10;
    private static readonly TimeSpan[] s_recentWindows = [TimeSpan.FromMinutes(10), TimeSpan.FromDays(1), TimeSpan.FromDays(30), TimeSpan.FromDays(3650)];

    public async ValueTask<ScheduleDescription> DescribeAsync(string id, int nextFireTimes = 10, int recentRuns = 10, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(nextFireTimes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(nextFireTimes, 1000);
        ArgumentOutOfRangeException.ThrowIfNegative(recentRuns);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(recentRuns, 1000);
        var stored = await GetAsync(id, cancellationToken).ConfigureAwait(false);
        var document = ScheduleDocument.FromJson(stored.Definition);
        var now = time.GetUtcNow();
        var recent = recentRuns == 0 ? [] : await RecentRunsAsync(id, now, recentRuns, cancellationToken).ConfigureAwait(false);
        (stored, int ahead) = await WithMadeAheadAsync(stored, document.MaxRuns, now, nextFireTimes, cancellationToken).ConfigureAwait(false);
        return Describe(stored, document, CompiledSpec.Compile(document.Spec), now, nextFireTimes, ahead, recent);
    }

    /// <summary>
    /// For a schedule whose remaining runs are fewer than <paramref name="wanted"/>: the schedule as read again, with
    /// how many of its occurrences are made already and still to fire (pending, or claimed just before their instant),
    /// up to <paramref name="wanted"/>. Those are its first next fire times, no longer counted in its remaining runs.
    /// Both are read under the store's planning lock, which a planner holds from creating occurrences to taking them
    /// from the remaining runs: apart, the two reads could see a run twice or not at all. Otherwise zero, unread: also
    /// when none of its runs is made yet (all of <paramref name="maxRuns"/> remain, as after a create), which needs no lock.
    /// </summary>
    private async ValueTask<(StoredSchedule Schedule, int Ahead)> WithMadeAheadAsync(StoredSchedule stored, long? maxRuns, DateTimeOffset now, int wanted, CancellationToken cancellationToken)
    {
        if (stored.RemainingRuns is not { } remaining || remaining >= wanted || wanted == 0 || remaining == maxRuns)
        {
            return (stored, 0);
        }

        var planning = await store.EnterPlanningAsync(cancellationToken).ConfigureAwait(false);
        await using (planning.ConfigureAwait(false))
        {
            var fresh = await store.GetScheduleAsync(stored.Id, cancellationToken).ConfigureAwait(false) ?? stored;
            if (fresh.Definition != stored.Definition)
            {
                return (stored, 0); // updated meanwhile: its occurrences are the new definition's, not this one's
            }

            if (fresh.RemainingRuns is not { } left || left >= wanted)
            {
                return (fresh, 0);
            }

            return (fresh, (await MadeAheadAsync(stored.Id, now, wanted, cancellationToken).ConfigureAwait(false)).Count);
        }
    }

    private async Task<IReadOnlyList<ScheduledRun>> MadeAheadAsync(string id, DateTimeOffset now, int most, CancellationToken cancellationToken)
    {
        var query = new RunQuery { ScheduleId = id, Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending, RunStatus.Running], ScheduledFrom = now.AddTicks(1), PageSize = most };
        return (await store.ListAsync(query, cancellationToken).ConfigureAwait(false)).Items;
    }

    // ahead: its occurrences made already that are still to fire (counted only when its remaining runs are fewer than
    // the fire times asked for), which are the first of its next fire times.
    private ScheduleDescription Describe(StoredSchedule stored, ScheduleDocument document, CompiledSpec spec, DateTimeOffset now, int nextFireTimes, int ahead, IReadOnlyList<ScheduledRun> recent)
    {
        int count = (int)Math.Min(nextFireTimes, stored.RemainingRuns is { } remaining ? remaining + ahead : long.MaxValue);
        return new ScheduleDescription
        {
            Definition = document.ToDefinition(stored.Id, stored.WorkflowName, stored.Metadata),
            Paused = stored.Paused,
            Note = stored.Note,
            CodeDefined = stored.CodeDefined,
            Orphaned = registry.Find(stored.WorkflowName) is null,
            CreatedAt = stored.CreatedAt,
            UpdatedAt = stored.UpdatedAt,
            Version = stored.Version,
            Counters = stored.Counters,
            RemainingRuns = stored.RemainingRuns,
            NextFireTimes = count == 0 ? [] : new FireTimePreview(spec, now.UtcTicks, count),
            RecentRuns = recent,
        };
    }

    public async ValueTask<SchedulePage> ListAsync(ScheduleQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(query.PageSize, 1, nameof(query));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(query.PageSize, 1000, nameof(query));
        var page = await store.ListSchedulesAsync(query, cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();
        var items = new List<ScheduleSummary>(page.Items.Count);

        // A limited schedule whose runs are all made fires next at the first of those still to come. Only one whose
        // watermark (its last fire time made) is still ahead can have any: the others are read no further, so a page of
        // schedules finished long ago costs one read of their watermarks.
        var finished = page.Items.Where(s => s.RemainingRuns is 0).Select(WatermarkNames.Of).ToList();
        var watermarks = finished.Count == 0 ? null : await store.GetWatermarksAsync(finished, cancellationToken).ConfigureAwait(false);
        foreach (var s in page.Items)
        {
            DateTimeOffset? next = null;
            if (s.RemainingRuns is 0)
            {
                if (!watermarks!.TryGetValue(WatermarkNames.Of(s), out var last) || last > now)
                {
                    var ahead = await MadeAheadAsync(s.Id, now, 1, cancellationToken).ConfigureAwait(false);
                    next = ahead.Count > 0 ? ahead[0].ScheduledTime : null;
                }
            }
            else
            {
                try
                {
                    long t = CompiledSpec.Compile(ScheduleDocument.FromJson(s.Definition).Spec).NextUtc(now.UtcTicks);
                    next = t < 0 ? null : new DateTimeOffset(t, TimeSpan.Zero);
                }
                catch (Exception e) when (e is JsonException or ScheduleSpecException)
                {
                    next = null; // unreadable here (a newer version wrote it): listed without a next fire time
                }
            }

            items.Add(new ScheduleSummary(s.Id, s.WorkflowName, s.Paused, s.Note, s.CodeDefined, next, s.Counters, s.Metadata));
        }

        return new SchedulePage(items, page.ContinuationToken);
    }

    private async Task<IReadOnlyList<ScheduledRun>> RecentRunsAsync(string id, DateTimeOffset now, int count, CancellationToken cancellationToken)
    {
        // Newest first: widen a window back from now until it holds enough (lists are in ascending order).
        var to = now.AddTicks(1);
        foreach (var back in s_recentWindows)
        {
            var runs = new List<ScheduledRun>();
            var query = new RunQuery { ScheduleId = id, ScheduledFrom = now - back, ScheduledTo = to, PageSize = 1000 };
            do
            {
                var page = await store.ListAsync(query, cancellationToken).ConfigureAwait(false);
                runs.AddRange(page.Items);
                query = query with { ContinuationToken = page.ContinuationToken };
            }
            while (query.ContinuationToken is not null);
            if (runs.Count >= count || back == TimeSpan.FromDays(3650))
            {
                runs.Reverse();
                return runs.Count > count ? runs.GetRange(0, count) : runs;
            }
        }

        return [];
    }
}
