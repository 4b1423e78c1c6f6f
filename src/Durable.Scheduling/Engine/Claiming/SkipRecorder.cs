using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Claiming;

/// <summary>
/// Records what admission turned away instead of claiming: occurrences skipped or dropped by their schedule's overlap
/// policy (ended as <see cref="RunStatus.Skipped"/> with the reason, counted on their schedule) and occurrences of
/// schedules deleted meanwhile (deleted). Either way their nodes are forgotten, so a run left pending by a failed call
/// is offered again by the feed. Owned by the loop, through the <see cref="Claimer"/>.
/// </summary>
internal sealed class SkipRecorder(ISchedulingStore store, SchedulingOptions options, AdmissionControl admission, TrackedRuns tracked, ILogger logger)
{
    /// <summary>
    /// Records occurrences skipped or dropped by their overlap policy (claimed, then completed as skipped, and counted
    /// on their schedule as skipped or dropped, not as runs). <paramref name="owner"/> is the instance id a claim records.
    /// </summary>
    public async Task SkipAsync(List<WheelNode> nodes, DateTimeOffset now, string owner, CancellationToken stop)
    {
        try
        {
            await SkipOnceAsync(nodes, now, owner, stop).ConfigureAwait(false);
        }
        catch
        {
            // Not recorded: they stay pending (or, claimed, are taken over once the lease expires) and are offered again.
            foreach (var node in nodes)
            {
                tracked.Forget(node.Id);
            }

            throw;
        }
    }

    private async Task SkipOnceAsync(List<WheelNode> nodes, DateTimeOffset now, string owner, CancellationToken stop)
    {
        // Pending runs end as skipped where they stand, never claimed (so never counted as started), a call per reason.
        var dropped = new HashSet<Guid>(admission.Dropped);
        var skipped = new HashSet<Guid>();
        foreach (var group in nodes.GroupBy(n => (Dropped: dropped.Contains(n.Id), Policy: admission.OverlapOf(n.Schedule ?? n.Workflow, n.Overlap))))
        {
            var ids = group.Select(n => n.Id).ToList();
            skipped.UnionWith(await store.SkipPendingAsync(ids, now, OverlapReason(group.Key.Dropped, group.Key.Policy), stop).ConfigureAwait(false));
        }

        // One no longer pending is a takeover (its lease expired: claimed, then completed as skipped; a retry's claim
        // counts nothing), or was taken by another instance meanwhile (not claimed: left alone).
        var rest = nodes.Where(n => !skipped.Contains(n.Id)).ToList();
        var counts = new Dictionary<string, (long Skipped, long Dropped, long Claimed)>(StringComparer.Ordinal);
        if (rest.Count > 0)
        {
            var leases = await store.ClaimAsync(rest.ConvertAll(n => n.Id), now, options.LeaseDuration, owner, stop).ConfigureAwait(false);
            var completions = new List<RunCompletion>(leases.Count);
            foreach (var lease in leases)
            {
                var policy = admission.OverlapOf(lease.Run.ScheduleId ?? lease.Run.WorkflowName, lease.Run.Overlap);
                completions.Add(new RunCompletion(lease.Run.Id, lease.Token, RunStatus.Skipped, now, OverlapReason(dropped.Contains(lease.Run.Id), policy)));
                skipped.Add(lease.Run.Id);
                if (lease.Run.Attempt == 1)
                {
                    // Pending again between the two calls, so claimed at its first attempt and counted as started: taken back.
                    string schedule = lease.Run.ScheduleId ?? lease.Run.WorkflowName;
                    var c = counts.GetValueOrDefault(schedule);
                    counts[schedule] = (c.Skipped, c.Dropped, c.Claimed + 1);
                }
            }

            await store.CompleteAsync(completions, stop).ConfigureAwait(false);
        }

        foreach (var node in nodes)
        {
            tracked.Forget(node.Id);
            if (!skipped.Contains(node.Id))
            {
                continue;
            }

            string schedule = node.Schedule ?? node.Workflow;
            var c = counts.GetValueOrDefault(schedule);
            counts[schedule] = dropped.Contains(node.Id) ? (c.Skipped, c.Dropped + 1, c.Claimed) : (c.Skipped + 1, c.Dropped, c.Claimed);
            SchedulingTelemetry.OccurrencesSkipped.Add(1, new KeyValuePair<string, object?>("workflow", node.Workflow), new KeyValuePair<string, object?>("schedule", schedule));
            Log.OccurrenceSkipped(logger, node.Workflow, new DateTimeOffset(node.DueTicks, TimeSpan.Zero), admission.OverlapOf(schedule, node.Overlap));
        }

        if (counts.Count > 0)
        {
            await store.AddScheduleCountsAsync([.. counts.Select(c => new ScheduleCountChange(c.Key, new ScheduleCounters { Skipped = c.Value.Skipped, Dropped = c.Value.Dropped, Runs = -c.Value.Claimed }))], stop).ConfigureAwait(false);
        }
    }

    private static RunError OverlapReason(bool dropped, OverlapPolicy policy) =>
        new("Durable.Scheduling.OverlapPolicy", $"{(dropped ? "Dropped from the buffer of overlap policy" : "Skipped by overlap policy")} {policy}: an earlier run was still active.");

    /// <summary>Deletes pending runs of schedules deleted meanwhile (created by a pass that raced with the delete).</summary>
    public async Task WithdrawAsync(List<WheelNode> nodes, CancellationToken stop)
    {
        try
        {
            await store.DeleteAsync(nodes.ConvertAll(n => n.Id), stop).ConfigureAwait(false);
        }
        finally
        {
            // Deleted, or (the call failed) left pending for the feed to offer again.
            foreach (var node in nodes)
            {
                tracked.Forget(node.Id);
            }

            nodes.Clear();
        }
    }
}
