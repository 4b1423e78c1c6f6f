using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

// Reading and changing pending runs: due pages, lists and filters, deletes, reschedules, skips, watermarks, purges.
public abstract partial class SchedulingStoreConformanceTests
{
    /// <summary>Contract: GetDueAsync: returns pending runs in due order, paged without gaps or repeats.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task GetDueAsync_ReturnsPendingRunsInDueOrder_PagedWithoutGapsOrRepeats()
    {
        var runs = Enumerable.Range(0, 57).Select(i => OneTime(Now.AddMilliseconds(i * 137 % 5000))).ToList();
        runs.Add(OneTime(Now.AddHours(1)));
        await _store.InsertAsync(runs, default);
        var claimed = runs[3];
        await _store.ClaimAsync([claimed.Id], Now.AddHours(2), s_lease, "node-a", default);

        var seen = new List<DueRun>();
        string? token = null;
        do
        {
            var page = await _store.GetDueAsync(Now.AddSeconds(10), 10, token, default);
            seen.AddRange(page.Runs);
            token = page.ContinuationToken;
        }
        while (token is not null);

        seen.Should().HaveCount(56, "57 due within the horizon, less the one claimed");
        seen.Select(r => r.Id).Should().OnlyHaveUniqueItems().And.NotContain(claimed.Id);
        seen.Select(r => r.DueTime).Should().BeInAscendingOrder();
    }

    /// <summary>
    /// Contract: GetDueAsync: a page is the caller's. A later read (of other runs, a smaller limit, or after the runs
    /// changed) leaves a page read before it as it was.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task GetDueAsync_APageReadEarlier_IsLeftAsItWas_ByLaterReadsAndChanges()
    {
        var early = Enumerable.Range(0, 20).Select(i => OneTime(Now.AddMilliseconds(i))).ToList();
        var late = Enumerable.Range(0, 5).Select(i => OneTime(Now.AddMinutes(1).AddMilliseconds(i), workflow: "other")).ToList();
        await _store.InsertAsync([.. early, .. late], default);

        var first = await _store.GetDueAsync(Now.AddSeconds(1), 50, null, default);
        var firstIds = first.Runs.Select(r => r.Id).ToList();
        firstIds.Should().Equal(early.Select(r => r.Id), "the runs due within the second, in due order");

        await _store.ClaimAsync([early[0].Id, early[1].Id], Now.AddSeconds(1), s_lease, "node-a", default);
        var second = await _store.GetDueAsync(Now.AddMinutes(2), 3, null, default);
        var third = await _store.GetDueAsync(Now.AddMinutes(2), 50, second.ContinuationToken, default);

        first.Runs.Select(r => r.Id).Should().Equal(firstIds, "reads after it and a claim leave an earlier page alone");
        first.Runs.Should().OnlyContain(r => r.WorkflowName == "wf");
        second.Runs.Select(r => r.Id).Should().Equal(early.Skip(2).Take(3).Select(r => r.Id));
        third.Runs.Select(r => r.Id).Should().Equal(early.Skip(5).Concat(late).Select(r => r.Id));
    }

    /// <summary>Contract: DeleteAsync: by ids, skips running runs.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task DeleteAsync_ByIds_SkipsRunningRuns()
    {
        var pending = OneTime(Now.AddHours(1));
        var running = OneTime(Now);
        await _store.InsertAsync([pending, running], default);
        await _store.ClaimAsync([running.Id], Now, s_lease, "node-a", default);
        var missing = Guid.NewGuid();
        var refused = await _store.DeleteAsync([pending.Id, running.Id, missing], default);
        refused.Should().BeEquivalentTo(new[] { new RunRefusal(running.Id, RunStatus.Running), new RunRefusal(missing, null) });
        (await _store.GetAsync(pending.Id, default)).Should().BeNull();
        (await _store.GetAsync(running.Id, default)).Should().NotBeNull();
        (await _store.InsertAsync([OneTime(Now, key: "again")], default))[0].Created.Should().BeTrue();
    }

    /// <summary>Contract: DeleteAsync: by filter, matches workflow statuses and metadata.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task DeleteAsync_ByFilter_MatchesWorkflowStatusesAndMetadata()
    {
        await _store.InsertAsync(
        [
            OneTime(Now, "a", metadata: new Dictionary<string, string> { ["t"] = "1" }),
            OneTime(Now, "a", metadata: new Dictionary<string, string> { ["t"] = "2" }),
            OneTime(Now, "b", metadata: new Dictionary<string, string> { ["t"] = "1" }),
        ], default);
        var deleted = await _store.DeleteAsync(new RunQuery { WorkflowName = "a", Statuses = [RunStatus.Pending], Metadata = new Dictionary<string, string> { ["t"] = "1" } }, default);
        deleted.Should().ContainSingle();
        (await _store.ListAsync(new RunQuery(), default)).Items.Should().HaveCount(2);
    }

    /// <summary>Contract: RescheduleAsync: is all or nothing.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task RescheduleAsync_IsAllOrNothing()
    {
        var a = OneTime(Now.AddHours(1));
        var b = OneTime(Now);
        await _store.InsertAsync([a, b], default);
        await _store.ClaimAsync([b.Id], Now, s_lease, "node-a", default);
        var act = async () => await _store.RescheduleAsync([new RunTimeChange(a.Id, Now.AddHours(2)), new RunTimeChange(b.Id, Now.AddHours(2))], default);
        (await act.Should().ThrowAsync<ScheduledRunStateException>()).Which.Refused.Should().ContainSingle().Which.Should().Be(new RunRefusal(b.Id, RunStatus.Running));
        (await _store.GetAsync(a.Id, default))!.ScheduledTime.Should().Be(Now.AddHours(1));

        var moved = await _store.RescheduleAsync([new RunTimeChange(a.Id, Now.AddMinutes(1))], default);
        moved.Single().ScheduledTime.Should().Be(Now.AddMinutes(1));
        moved.Single().DueTime.Should().Be(Now.AddMinutes(1));
        (await _store.GetDueAsync(Now.AddMinutes(1), 10, null, default)).Runs.Should().ContainSingle().Which.Id.Should().Be(a.Id);
    }

    /// <summary>Contract: ListAsync: filters and pages, in scheduled order.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ListAsync_FiltersAndPages_InScheduledOrder()
    {
        var runs = Enumerable.Range(0, 30).Select(i => OneTime(Now.AddMinutes(30 - i), i % 3 == 0 ? "x" : "y")).ToList();
        await _store.InsertAsync(runs, default);
        var page1 = await _store.ListAsync(new RunQuery { WorkflowName = "y", PageSize = 15 }, default);
        page1.Items.Should().HaveCount(15);
        page1.ContinuationToken.Should().NotBeNull();
        var page2 = await _store.ListAsync(new RunQuery { WorkflowName = "y", PageSize = 15, ContinuationToken = page1.ContinuationToken }, default);
        page2.Items.Should().HaveCount(5);
        page2.ContinuationToken.Should().BeNull();
        page1.Items.Concat(page2.Items).Select(r => r.ScheduledTime).Should().BeInAscendingOrder();
        var range = await _store.ListAsync(new RunQuery { ScheduledFrom = Now.AddMinutes(10), ScheduledTo = Now.AddMinutes(20) }, default);
        range.Items.Should().HaveCount(10);
    }

    /// <summary>Contract: Watermark: only moves forward.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task Watermark_OnlyMovesForward()
    {
        (await _store.GetWatermarkAsync("s", default)).Should().BeNull();
        await _store.AdvanceWatermarkAsync("s", Now, default);
        await _store.AdvanceWatermarkAsync("s", Now.AddMinutes(-5), default);
        (await _store.GetWatermarkAsync("s", default)).Should().Be(Now);
        await _store.AdvanceWatermarkAsync("s", Now.AddMinutes(5), default);
        (await _store.GetWatermarkAsync("s", default)).Should().Be(Now.AddMinutes(5));
        (await _store.GetWatermarkAsync("other", default)).Should().BeNull();
    }

    /// <summary>Contract: PurgeAsync: honours its limit, and skips runs deleted since they ended.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task PurgeAsync_HonoursItsLimit_AndSkipsRunsDeletedSinceTheyEnded()
    {
        var runs = Enumerable.Range(0, 5).Select(_ => OneTime(Now.AddDays(-10))).ToList();
        await _store.InsertAsync(runs, default);
        var leases = await _store.ClaimAsync(runs.Select(r => r.Id).ToList(), Now.AddDays(-10), s_lease, "node-a", default);
        await _store.CompleteAsync(leases.Select(l => new RunCompletion(l.Run.Id, l.Token, RunStatus.Succeeded, Now.AddDays(-10))).ToList(), default);
        (await _store.DeleteAsync([runs[0].Id], default)).Should().BeEmpty();

        (await _store.PurgeAsync(Now.AddDays(-1), 2, default)).Should().Be(2);
        (await _store.PurgeAsync(Now.AddDays(-1), 100, default)).Should().Be(2);
        (await _store.PurgeAsync(Now.AddDays(-1), 100, default)).Should().Be(0);
        foreach (var run in runs)
        {
            (await _store.GetAsync(run.Id, default)).Should().BeNull();
        }
    }

    /// <summary>Contract: PurgeAsync: deletes only runs ended before cut off.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task PurgeAsync_DeletesOnlyRunsEndedBeforeCutOff()
    {
        var old = OneTime(Now);
        var recent = OneTime(Now);
        var pending = OneTime(Now.AddDays(-30));
        await _store.InsertAsync([old, recent, pending], default);
        var leases = await _store.ClaimAsync([old.Id, recent.Id], Now, s_lease, "node-a", default);
        await _store.CompleteAsync([new RunCompletion(old.Id, leases.Single(l => l.Run.Id == old.Id).Token, RunStatus.Succeeded, Now.AddDays(-10))], default);
        await _store.CompleteAsync([new RunCompletion(recent.Id, leases.Single(l => l.Run.Id == recent.Id).Token, RunStatus.Succeeded, Now)], default);
        (await _store.PurgeAsync(Now.AddDays(-1), 100, default)).Should().Be(1);
        (await _store.GetAsync(old.Id, default)).Should().BeNull();
        (await _store.GetAsync(recent.Id, default)).Should().NotBeNull();
        (await _store.GetAsync(pending.Id, default)).Should().NotBeNull();
    }

    /// <summary>Contract: SkipPendingAsync: ends only pending runs as skipped, with the reason, keeping their keys.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task SkipPendingAsync_EndsOnlyPendingRunsAsSkipped_KeepingTheirKeys()
    {
        var pending = Occurrence(Now.AddMinutes(5));
        var running = OneTime(Now);
        await _store.InsertAsync([pending, running], default);
        await _store.ClaimAsync([running.Id], Now, s_lease, "node-a", default);
        var reason = new RunError("Durable.Scheduling.DeletedByUser", "deleted");

        var skipped = await _store.SkipPendingAsync([pending.Id, running.Id, Guid.NewGuid()], Now.AddSeconds(1), reason, default);
        skipped.Should().Equal(pending.Id);
        var stored = await _store.GetAsync(pending.Id, default);
        stored!.Status.Should().Be(RunStatus.Skipped);
        stored.Error.Should().Be(reason);
        stored.CompletedAt.Should().Be(Now.AddSeconds(1));
        (await _store.GetAsync(running.Id, default))!.Status.Should().Be(RunStatus.Running, "only pending runs are skipped");
        (await _store.InsertAsync([Occurrence(Now.AddMinutes(5))], default))[0].Created.Should().BeFalse("the skipped occurrence keeps its key");
        (await _store.GetDueAsync(Now.AddHours(1), 10, null, default)).Runs.Should().BeEmpty("a skipped run is never due");
    }

    /// <summary>Contract: ListAsync and DeleteAsync: the kind filter selects one-time runs or occurrences.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task KindsFilter_SelectsOneTimeRunsOrOccurrences()
    {
        var once = OneTime(Now, workflow: "same");
        var occurrence = Occurrence(Now.AddSeconds(1), workflow: "same");
        await _store.InsertAsync([once, occurrence], default);
        (await _store.ListAsync(new RunQuery { Kinds = [RunKind.Occurrence] }, default)).Items.Select(r => r.Id).Should().Equal(occurrence.Id);
        (await _store.ListAsync(new RunQuery { Kinds = [RunKind.OneTime] }, default)).Items.Select(r => r.Id).Should().Equal(once.Id);
        (await _store.ListAsync(new RunQuery(), default)).Items.Should().HaveCount(2);
        (await _store.DeleteAsync(new RunQuery { Kinds = [RunKind.OneTime] }, default)).Should().Equal(once.Id);
        (await _store.GetAsync(occurrence.Id, default)).Should().NotBeNull();
    }

    /// <summary>Contract: ListAsync and DeleteAsync: excluded workflows are left out (how orphaned runs are found).</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ExcludedWorkflowNames_LeaveThoseWorkflowsOut()
    {
        var kept = OneTime(Now, workflow: "defined");
        var orphan = OneTime(Now, workflow: "removed 'it\"s; DROP");
        await _store.InsertAsync([kept, orphan], default);
        (await _store.ListAsync(new RunQuery { ExcludedWorkflowNames = ["defined", "other"] }, default)).Items.Select(r => r.Id).Should().Equal(orphan.Id);
        (await _store.DeleteAsync(new RunQuery { ExcludedWorkflowNames = ["defined"] }, default)).Should().Equal(orphan.Id);
        (await _store.GetAsync(kept.Id, default)).Should().NotBeNull();
    }

    /// <summary>Contract: ListAsync: leaves inputs out unless asked (GetAsync always has it).</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ListAsync_LeavesInputsOut_UnlessAsked()
    {
        var run = OneTime(Now, input: "{\"big\":true}");
        await _store.InsertAsync([run], default);
        (await _store.ListAsync(new RunQuery(), default)).Items.Single().Input.Should().BeNull();
        (await _store.ListAsync(new RunQuery { IncludeInput = true }, default)).Items.Single().Input.Should().Be(run.Input);
        (await _store.GetAsync(run.Id, default))!.Input.Should().Be(run.Input);
    }
}
