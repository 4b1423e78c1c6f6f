using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using FluentAssertions;
using Durable.Scheduling.Testing;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

[TestFixture]
public sealed class InMemorySchedulingStoreTests : SchedulingStoreConformanceTests
{
    protected override Task<ISchedulingStore> CreateStoreAsync() => Task.FromResult<ISchedulingStore>(new InMemorySchedulingStore());

    [Test]
    public async Task ListAsync_ExcludingManyWorkflows_ListsExactlyTheOthers_EvenWhereTheirChunkSummariesCollide()
    {
        // More workflows than a chunk summary has bits, so workflows share bits (w7 and w71, say): a chunk may be
        // skipped only when every workflow on each of its bits is excluded. The hourly orphan count excludes them all.
        var store = new InMemorySchedulingStore();
        var names = Enumerable.Range(0, 100).Select(i => $"w{i}").ToList();
        var runs = Enumerable.Range(0, 3_000).Select(i => OneTime(Now.AddSeconds(i), names[(i * 37) % 100])).ToList();
        await store.InsertAsync(runs, default);
        foreach (var kept in new[] { ["w7", "w71"], ["w7"], [], names.Take(50).ToArray(), ["w99"] })
        {
            var query = new RunQuery { ExcludedWorkflowNames = [.. names.Except(kept), "never-seen"], Statuses = [RunStatus.Pending], PageSize = 50 };
            var listed = new List<Guid>();
            string? token = null;
            do
            {
                var page = await store.ListAsync(query with { ContinuationToken = token }, default);
                listed.AddRange(page.Items.Select(r => r.Id));
                token = page.ContinuationToken;
            }
            while (token is not null);

            listed.Should().Equal(runs.Where(r => kept.Contains(r.WorkflowName)).Select(r => r.Id), "kept {0}", string.Join(',', kept));
        }
    }

    [Test]
    public async Task CompleteAsync_BeyondTheEndedRunCap_DropsTheOldestEndedRuns_AndNoOtherRun()
    {
        // In memory a day of ended runs could outgrow the process: past the cap, each run ending drops the oldest.
        var store = new InMemorySchedulingStore(maxEndedRuns: 3);
        var runs = Enumerable.Range(0, 6).Select(i => OneTime(Now.AddSeconds(-10 + i))).ToList();
        var pending = OneTime(Now.AddHours(1));
        await store.InsertAsync([.. runs, pending], default);
        var leases = await store.ClaimAsync(runs.Select(r => r.Id).ToList(), Now, TimeSpan.FromMinutes(1), "node-a", default);
        var running = leases[^1];
        foreach (var lease in leases.Take(5))
        {
            await store.CompleteAsync([new RunCompletion(lease.Run.Id, lease.Token, RunStatus.Succeeded, Now)], default);
        }

        var kept = new List<Guid>();
        foreach (var run in runs)
        {
            if (await store.GetAsync(run.Id, default) is { } stored)
            {
                kept.Add(stored.Id);
            }
        }

        kept.Should().Equal(runs[2].Id, runs[3].Id, runs[4].Id, runs[5].Id);
        (await store.GetAsync(running.Run.Id, default))!.Status.Should().Be(RunStatus.Running, "a running run is never dropped");
        (await store.GetAsync(pending.Id, default))!.Status.Should().Be(RunStatus.Pending, "a pending run is never dropped");
    }

    [Test]
    public async Task InsertAsync_WithAnIdStoredAlready_IsRefused_AndItsKeyStaysFree()
    {
        var store = new InMemorySchedulingStore();
        var first = OneTime(Now);
        await store.InsertAsync([first], default);
        var reused = OneTime(Now, key: "k") with { Id = first.Id };
        var act = async () => await store.InsertAsync([reused], default);
        (await act.Should().ThrowAsync<ArgumentException>()).WithMessage($"*{first.Id}*");

        var keyed = OneTime(Now, key: "k");
        (await store.InsertAsync([keyed], default)).Single().Created.Should().BeTrue("the refused run did not keep the key");
    }

    [Test]
    public async Task InsertAsync_WhenOneRunIsRefused_InsertsNoneOfTheBatch()
    {
        var store = new InMemorySchedulingStore();
        var stored = OneTime(Now);
        await store.InsertAsync([stored], default);
        var fresh = OneTime(Now, key: "fresh");
        var act = async () => await store.InsertAsync([fresh, stored with { IdempotencyKey = "wf#other" }], default);
        await act.Should().ThrowAsync<ArgumentException>();
        (await store.GetAsync(fresh.Id, default)).Should().BeNull("the batch is all or nothing");
        (await store.InsertAsync([OneTime(Now, key: "fresh")], default)).Single().Created.Should().BeTrue("its key was taken back too");
    }
}
