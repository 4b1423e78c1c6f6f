using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

// Lists and due pages over many runs that have moved through every change a store makes, checked against a model.
public abstract partial class SchedulingStoreConformanceTests
{
    /// <summary>
    /// Contract: ListAsync: over a few thousand runs inserted out of order, claimed, completed, failed, skipped,
    /// released, rescheduled, deleted and purged, every filter and combination of filters pages through exactly the
    /// runs a full scan of the test's own model finds, in scheduled order, without repeats or gaps. (A store that
    /// indexes its lists is checked here against the plain meaning of each filter.)
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ListAsync_AgreesWithAFullScan_AfterEveryKindOfChange()
    {
        var random = new Random(20261206);
        string[] workflows = ["alpha", "beta", "gamma", "delta", "rare"];
        string[] tenants = ["t0", "t1", "t2", "t3"];
        var model = new Dictionary<Guid, (string Workflow, DateTimeOffset Scheduled, RunStatus Status, IReadOnlyDictionary<string, string> Metadata)>();
        var runs = new List<ScheduledRun>();
        for (int i = 0; i < 2_500; i++)
        {
            // Few distinct instants, so runs share them and their order falls to their ids.
            var at = Now.AddMinutes(random.Next(-600, 600)).AddSeconds(random.Next(3) * 20);
            string workflow = i % 97 == 0 ? "rare" : workflows[random.Next(4)];
            var metadata = new Dictionary<string, string>();
            if (random.Next(3) > 0)
            {
                metadata["tenant"] = tenants[random.Next(tenants.Length)];
            }

            if (random.Next(50) == 0)
            {
                metadata["vip"] = "yes";
            }

            var run = OneTime(at, workflow, metadata: metadata);
            runs.Add(run);
            model[run.Id] = (workflow, at, RunStatus.Pending, metadata);
        }

        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(runs));
        foreach (var batch in runs.Chunk(400))
        {
            await _store.InsertAsync(batch, default);
        }

        void Set(Guid id, RunStatus status) => model[id] = model[id] with { Status = status };
        var past = runs.Where(r => r.ScheduledTime <= Now).ToList();
        var leases = await _store.ClaimAsync([.. past.Select(r => r.Id)], Now, s_lease, "node-a", default);
        var completions = new List<RunCompletion>();
        foreach (var (lease, n) in leases.Select((l, n) => (l, n)))
        {
            var status = (n % 10) switch { 0 => RunStatus.Failed, 1 => RunStatus.Cancelled, 2 or 3 => RunStatus.Running, _ => RunStatus.Succeeded };
            if (status == RunStatus.Running)
            {
                Set(lease.Run.Id, RunStatus.Running);
                if (n % 20 == 2)
                {
                    await _store.ReleaseAsync(lease.Run.Id, lease.Token, Now.AddMinutes(5), null, default);
                    Set(lease.Run.Id, RunStatus.Pending);
                }

                continue;
            }

            completions.Add(new RunCompletion(lease.Run.Id, lease.Token, status, Now, status == RunStatus.Failed ? new RunError("Boom", "boom") : null));
            Set(lease.Run.Id, status);
        }

        await _store.CompleteAsync(completions, default);
        var future = runs.Where(r => model[r.Id].Status == RunStatus.Pending && r.ScheduledTime > Now).ToList();
        var skipped = await _store.SkipPendingAsync([.. future.Where((_, n) => n % 13 == 0).Select(r => r.Id)], Now, new RunError("Skipped", "overlap"), default);
        foreach (var id in skipped)
        {
            Set(id, RunStatus.Skipped);
        }

        var moves = future.Where((r, n) => n % 9 == 1 && model[r.Id].Status == RunStatus.Pending)
            .Select(r => new RunTimeChange(r.Id, Now.AddMinutes(random.Next(-900, 900)))).ToList();
        await _store.RescheduleAsync(moves, default);
        foreach (var (id, time) in moves)
        {
            model[id] = model[id] with { Scheduled = time };
        }

        var doomed = runs.Where((r, n) => n % 7 == 3 && model[r.Id].Status != RunStatus.Running).Select(r => r.Id).ToList();
        await _store.DeleteAsync(doomed, default);
        foreach (var id in doomed)
        {
            model.Remove(id);
        }

        await CheckListsAgainstModelAsync(model);

        // Deletes by filter and purges empty whole stretches of the list; everything left must still list as before.
        var deleted = await _store.DeleteAsync(new RunQuery { WorkflowName = "beta", Statuses = [RunStatus.Succeeded, RunStatus.Pending] }, default);
        deleted.ToHashSet().SetEquals(model.Where(m => m.Value.Workflow == "beta" && m.Value.Status is RunStatus.Succeeded or RunStatus.Pending).Select(m => m.Key))
            .Should().BeTrue("a delete by filter takes exactly the runs it matches");
        foreach (var id in deleted)
        {
            model.Remove(id);
        }

        while (await _store.PurgeAsync(Now.AddSeconds(1), 500, default) > 0)
        {
        }

        foreach (var id in model.Where(m => m.Value.Status is not (RunStatus.Pending or RunStatus.Running)).Select(m => m.Key).ToList())
        {
            model.Remove(id);
        }

        await CheckListsAgainstModelAsync(model);
    }

    /// <summary>
    /// Contract: ListAsync by status stays exact when runs are claimed and end between inserts, in time order and out of
    /// it, as a scheduler's runs do (added, claimed and ended while others keep coming), through deletes and through
    /// runs added before the ones already there.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ListAsync_ByStatus_StaysExact_WhenRunsAreClaimedAndEndBetweenInserts()
    {
        var random = new Random(20261207);
        string[] workflows = ["alpha", "beta", "gamma", "delta"];
        var model = new Dictionary<Guid, (string Workflow, DateTimeOffset Scheduled, RunStatus Status, IReadOnlyDictionary<string, string> Metadata)>();
        var pending = new List<Guid>();
        var running = new List<RunLease>();
        var noMetadata = new Dictionary<string, string>();
        void Set(Guid id, RunStatus status) => model[id] = model[id] with { Status = status };
        for (int step = 0; step < 700; step++)
        {
            int action = random.Next(10);
            if (action < 5 || pending.Count == 0)
            {
                // Mostly in time order (appended), now and then before runs already there (inside a chunk, or splitting one).
                var at = random.Next(4) == 0 ? Now.AddMinutes(random.Next(-600, 0)) : Now.AddSeconds(step - 700);
                var run = OneTime(at, workflows[random.Next(workflows.Length)]);
                await _store.InsertOneAsync(run, default);
                model[run.Id] = (run.WorkflowName, at, RunStatus.Pending, noMetadata);
                pending.Add(run.Id);
            }
            else if (action < 7)
            {
                var ids = pending.Where(_ => random.Next(3) == 0).Take(5).ToList();
                foreach (var lease in await _store.ClaimAsync(ids, Now, s_lease, "node-a", default))
                {
                    Set(lease.Run.Id, RunStatus.Running);
                    running.Add(lease);
                }

                pending.RemoveAll(id => model[id].Status == RunStatus.Running);
            }
            else if (action < 9 && running.Count > 0)
            {
                var ending = running.Where(_ => random.Next(2) == 0).ToList();
                var statuses = ending.Select(_ => random.Next(4) == 0 ? RunStatus.Failed : RunStatus.Succeeded).ToList();
                await _store.CompleteAsync([.. ending.Select((l, n) => new RunCompletion(l.Run.Id, l.Token, statuses[n], Now, statuses[n] == RunStatus.Failed ? new RunError("Boom", "boom") : null))], default);
                foreach (var (lease, n) in ending.Select((l, n) => (l, n)))
                {
                    Set(lease.Run.Id, statuses[n]);
                    running.Remove(lease);
                }
            }
            else
            {
                var doomed = pending[random.Next(pending.Count)];
                await _store.DeleteAsync([doomed], default);
                model.Remove(doomed);
                pending.Remove(doomed);
            }

            if (step % 175 == 174)
            {
                await CheckListsAgainstModelAsync(model);
            }
        }
    }

    /// <summary>
    /// Contract: GetDueAsync: over thousands of runs inserted out of order, some claimed, released, rescheduled, skipped
    /// or deleted, a pass pages through exactly the pending runs due by the horizon, in due order, each once; and a second
    /// pass (after a store may have tidied what the first one passed) finds the same.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task GetDueAsync_OverThousandsOfChangedRuns_PagesEveryDueRunOnce()
    {
        var random = new Random(61);
        var runs = Enumerable.Range(0, 3_000).Select(_ => OneTime(Now.AddSeconds(random.Next(-3_600, 3_600)))).ToList();
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(runs));
        foreach (var batch in runs.Chunk(500))
        {
            await _store.InsertAsync(batch, default);
        }

        var due = runs.ToDictionary(r => r.Id, r => (DateTimeOffset?)r.DueTime);
        var leases = await _store.ClaimAsync([.. runs.Where((_, n) => n % 3 == 0 && runs[n].DueTime <= Now).Select(r => r.Id)], Now, s_lease, "node-a", default);
        foreach (var (lease, n) in leases.Select((l, n) => (l, n)))
        {
            due[lease.Run.Id] = null;
            if (n % 4 == 0)
            {
                var again = Now.AddSeconds(random.Next(-60, 60));
                await _store.ReleaseAsync(lease.Run.Id, lease.Token, again, null, default);
                due[lease.Run.Id] = again;
            }
        }

        var pending = runs.Where(r => due[r.Id] is not null).ToList();
        var moves = pending.Where((_, n) => n % 11 == 5).Select(r => new RunTimeChange(r.Id, Now.AddSeconds(random.Next(-3_600, 3_600)))).ToList();
        await _store.RescheduleAsync(moves, default);
        foreach (var (id, time) in moves)
        {
            due[id] = time;
        }

        var gone = pending.Where((_, n) => n % 13 == 7).Select(r => r.Id).ToList();
        await _store.DeleteAsync(gone, default);
        var skipped = await _store.SkipPendingAsync([.. pending.Where((_, n) => n % 17 == 3).Select(r => r.Id).Except(gone)], Now, new RunError("Skipped", "test"), default);
        foreach (var id in gone.Concat(skipped))
        {
            due[id] = null;
        }

        var horizon = Now.AddMinutes(20);
        var expected = due.Where(d => d.Value <= horizon).Select(d => d.Key).ToHashSet();
        for (int pass = 0; pass < 2; pass++)
        {
            var seen = new List<DueRun>();
            string? token = null;
            do
            {
                var page = await _store.GetDueAsync(horizon, 100, token, default);
                seen.AddRange(page.Runs);
                token = page.ContinuationToken;
            }
            while (token is not null);

            seen.Select(r => r.Id).Should().OnlyHaveUniqueItems();
            seen.Select(r => r.Id).ToHashSet().SetEquals(expected).Should().BeTrue("pass {0} finds every pending run due by the horizon and nothing else", pass + 1);
            seen.Select(r => r.DueTime).Should().BeInAscendingOrder();
            seen.Where(r => r.DueTime != due[r.Id]).Should().BeEmpty("each run is due when it was last set to be");
        }
    }

    /// <summary>
    /// Contract: a list by schedule and metadata holds the schedule's runs with that pair, and only those, in list order,
    /// whichever filter is the rarer (the schedule's runs are many and the pair rare, then the other way round).
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ListAsync_ByScheduleAndMetadata_HoldsOnlyTheSchedulesRunsWithThePair()
    {
        var runs = new List<ScheduledRun>();
        for (int i = 0; i < 1_200; i++)
        {
            var metadata = new Dictionary<string, string> { ["tenant"] = i % 2 == 0 ? "even" : "odd" };
            if (i % 100 == 7)
            {
                metadata["vip"] = "yes";
            }

            string schedule = i % 3 == 0 ? "few" : "many"; // "few": 400 runs; "many": 800
            runs.Add(ScheduleRun(schedule, Now.AddSeconds(i)) with { Metadata = metadata });
        }

        await _store.InsertAsync(runs, default);
        foreach (var (schedule, pairs) in new[]
        {
            ("many", new Dictionary<string, string> { ["vip"] = "yes" }),
            ("few", new Dictionary<string, string> { ["vip"] = "yes" }),
            ("few", new Dictionary<string, string> { ["tenant"] = "odd" }),
            ("many", new Dictionary<string, string> { ["tenant"] = "even", ["vip"] = "yes" }),
            ("nobody", new Dictionary<string, string> { ["vip"] = "yes" }),
        })
        {
            var expected = runs.Where(r => r.ScheduleId == schedule && pairs.All(p => r.Metadata.TryGetValue(p.Key, out var v) && v == p.Value))
                .OrderBy(r => r.ScheduledTime).ThenBy(r => r.Id).Select(r => r.Id).ToList();
            var listed = new List<Guid>();
            string? token = null;
            do
            {
                var page = await _store.ListAsync(new RunQuery { ScheduleId = schedule, Metadata = pairs, PageSize = 3, ContinuationToken = token }, default);
                listed.AddRange(page.Items.Select(r => r.Id));
                token = page.ContinuationToken;
            }
            while (token is not null && listed.Count <= runs.Count);

            listed.Should().Equal(expected, "schedule {0} with {1}, in list order", schedule, string.Join(',', pairs.Select(p => $"{p.Key}={p.Value}")));
        }
    }

    private async Task CheckListsAgainstModelAsync(Dictionary<Guid, (string Workflow, DateTimeOffset Scheduled, RunStatus Status, IReadOnlyDictionary<string, string> Metadata)> model)
    {
        var tenant1 = new Dictionary<string, string> { ["tenant"] = "t1" };
        var vip = new Dictionary<string, string> { ["vip"] = "yes" };
        var both = new Dictionary<string, string> { ["tenant"] = "t2", ["vip"] = "yes" };
        var queries = new RunQuery[]
        {
            new(),
            new() { WorkflowName = "rare" },
            new() { WorkflowName = "alpha" },
            new() { WorkflowName = "nobody" },
            new() { Statuses = [RunStatus.Failed] },
            new() { Statuses = [RunStatus.Pending, RunStatus.Running] },
            new() { Statuses = [RunStatus.Skipped, RunStatus.Cancelled] },
            new() { Metadata = tenant1 },
            new() { Metadata = vip },
            new() { Metadata = both },
            new() { Metadata = new Dictionary<string, string> { ["tenant"] = "nobody" } },
            new() { ScheduledFrom = Now.AddHours(-2), ScheduledTo = Now.AddHours(3) },
            new() { ScheduledFrom = Now.AddMinutes(7) },
            new() { ScheduledTo = Now.AddMinutes(-7) },
            new() { WorkflowName = "gamma", Statuses = [RunStatus.Failed] },
            new() { WorkflowName = "rare", Metadata = tenant1 },
            new() { WorkflowName = "alpha", Metadata = vip }, // the rarer metadata pair leads, the workflow is tested beside it
            new() { WorkflowName = "beta", Metadata = both },
            new() { Statuses = [RunStatus.Pending], Metadata = vip, ScheduledFrom = Now },
            new() { WorkflowName = "delta", Statuses = [RunStatus.Succeeded], ScheduledFrom = Now.AddHours(-5), ScheduledTo = Now.AddHours(-1), Metadata = tenant1 },
            new() { ExcludedWorkflowNames = ["alpha", "beta"], Statuses = [RunStatus.Pending] },
            new() { WorkflowName = "alpha", Statuses = [RunStatus.Failed, RunStatus.Skipped] },
            new() { WorkflowName = "rare", Statuses = [RunStatus.Pending], Metadata = tenant1 },
            new() { WorkflowName = "gamma", Statuses = [RunStatus.Running, RunStatus.Failed], Metadata = vip },
            new() { Statuses = [RunStatus.Succeeded], WorkflowName = "beta", Metadata = both },
        };
        foreach (var query in queries)
        {
            var expected = model.Where(m => Matches(m.Value, query)).Select(m => m.Key).ToList();
            var listed = new List<ScheduledRun>();
            string? token = null;
            int pages = 0;
            do
            {
                var page = await _store.ListAsync(query with { PageSize = 37, ContinuationToken = token }, default);
                listed.AddRange(page.Items);
                token = page.ContinuationToken;
                (++pages).Should().BeLessThan(200, "paging must end");
            }
            while (token is not null);

            var ids = listed.Select(r => r.Id).ToList();
            ids.Should().OnlyHaveUniqueItems();
            ids.Except(expected).Should().BeEmpty("a list holds only what its filter matches ({0})", Describe(query));
            expected.Except(ids).Should().BeEmpty("a list holds all its filter matches ({0})", Describe(query));
            listed.Select(r => r.ScheduledTime).Should().BeInAscendingOrder();
            listed.Where(r => r.ScheduledTime != model[r.Id].Scheduled || r.Status != model[r.Id].Status).Should().BeEmpty("runs list as they are");
        }
    }

    private static bool Matches((string Workflow, DateTimeOffset Scheduled, RunStatus Status, IReadOnlyDictionary<string, string> Metadata) run, RunQuery query) =>
        (query.WorkflowName is null || run.Workflow == query.WorkflowName) &&
        (query.ExcludedWorkflowNames is null || !query.ExcludedWorkflowNames.Contains(run.Workflow)) &&
        (query.Statuses is null || query.Statuses.Contains(run.Status)) &&
        (query.ScheduledFrom is null || run.Scheduled >= query.ScheduledFrom) &&
        (query.ScheduledTo is null || run.Scheduled < query.ScheduledTo) &&
        (query.Metadata is null || query.Metadata.All(p => run.Metadata.TryGetValue(p.Key, out var v) && v == p.Value));

    private static string Describe(RunQuery query) =>
        $"workflow {query.WorkflowName}, statuses {string.Join('/', query.Statuses ?? [])}, metadata {string.Join(',', (query.Metadata ?? new Dictionary<string, string>()).Select(p => $"{p.Key}={p.Value}"))}, from {query.ScheduledFrom}, to {query.ScheduledTo}";
}
