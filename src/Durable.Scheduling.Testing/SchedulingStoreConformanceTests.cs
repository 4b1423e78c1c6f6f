using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

/// <summary>
/// The storage contract every <see cref="ISchedulingStore"/> must meet, as NUnit tests. A store's test fixture derives
/// from this class (mark it <c>[TestFixture]</c>) and creates a fresh, empty store per test; every test runs unchanged
/// against every store. The only optional part is <see cref="MakeUnavailableAsync"/>: a store with a backing resource
/// (a file, a server) should implement it, so that the failure contract is checked too.
/// </summary>
/// <example>
/// <code>
/// [TestFixture]
/// public sealed class MyStoreTests : SchedulingStoreConformanceTests
/// {
///     protected override Task&lt;ISchedulingStore&gt; CreateStoreAsync() =&gt; Task.FromResult&lt;ISchedulingStore&gt;(new MyStore(...));
/// }
/// </code>
/// </example>
public abstract class SchedulingStoreConformanceTests
{
    /// <summary>The instant the tests treat as now (UTC); stores never read a clock.</summary>
    protected static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_lease = TimeSpan.FromMinutes(1);

    private ISchedulingStore _store = null!;

    /// <summary>Creates a fresh, empty store.</summary>
    /// <returns>The store.</returns>
    protected abstract Task<ISchedulingStore> CreateStoreAsync();

    /// <summary>Releases what <see cref="CreateStoreAsync"/> created (files, connections).</summary>
    /// <param name="store">The store.</param>
    /// <returns>A task that completes when released.</returns>
    protected virtual Task DisposeStoreAsync(ISchedulingStore store) => Task.CompletedTask;

    /// <summary>
    /// Makes the store's backing resource unavailable (a database locked by someone else past the store's timeout,
    /// a server stopped) until the returned object is disposed; null (the default) when the store has no such resource,
    /// in which case the failure-contract test is reported as ignored. While unavailable, a write must fail, and every
    /// call must either succeed or throw <see cref="IOException"/> or <see cref="TimeoutException"/>.
    /// </summary>
    /// <param name="store">The store (created by <see cref="CreateStoreAsync"/>, already used once).</param>
    /// <returns>What restores the resource when disposed, or null.</returns>
    protected virtual Task<IAsyncDisposable?> MakeUnavailableAsync(ISchedulingStore store) => Task.FromResult<IAsyncDisposable?>(null);

    /// <summary>Creates the store for a test.</summary>
    /// <returns>A task that completes when the store exists.</returns>
    [SetUp]
    public async Task SetUpStore() => _store = await CreateStoreAsync();

    /// <summary>Releases the test's store.</summary>
    /// <returns>A task that completes when released.</returns>
    [TearDown]
    public async Task TearDownStore() => await DisposeStoreAsync(_store);

    /// <summary>A pending one-time run.</summary>
    /// <param name="at">Its time.</param>
    /// <param name="workflow">Its workflow.</param>
    /// <param name="key">The caller's idempotency key, or null.</param>
    /// <param name="input">Its input JSON, or null.</param>
    /// <param name="metadata">Its metadata, or null.</param>
    /// <returns>The run.</returns>
    protected static ScheduledRun OneTime(DateTimeOffset at, string workflow = "wf", string? key = null, string? input = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var id = Guid.NewGuid();
        return new ScheduledRun
        {
            Id = id,
            WorkflowName = workflow,
            Kind = RunKind.OneTime,
            IdempotencyKey = RunKeys.OneTime(workflow, key, id),
            ScheduledTime = at,
            DueTime = at,
            Status = RunStatus.Pending,
            Input = input,
            Metadata = metadata ?? new Dictionary<string, string>(),
            CreatedAt = Now,
        };
    }

    /// <summary>A pending occurrence of a recurring schedule.</summary>
    /// <param name="at">Its instant.</param>
    /// <param name="workflow">Its workflow.</param>
    /// <returns>The run.</returns>
    protected static ScheduledRun Occurrence(DateTimeOffset at, string workflow = "cron") => new()
    {
        Id = Guid.NewGuid(),
        WorkflowName = workflow,
        Kind = RunKind.Occurrence,
        IdempotencyKey = RunKeys.Occurrence(workflow, at),
        ScheduledTime = at,
        DueTime = at,
        Status = RunStatus.Pending,
        CreatedAt = Now,
    };

    /// <summary>Contract: InsertAsync: when key exists, returns existing run.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task InsertAsync_WhenKeyExists_ReturnsExistingRun()
    {
        var first = Occurrence(Now);
        var again = Occurrence(Now);
        (await _store.InsertAsync([first], default))[0].Created.Should().BeTrue();
        var result = (await _store.InsertAsync([again], default))[0];
        result.Created.Should().BeFalse();
        result.Run.Id.Should().Be(first.Id);
        result.Run.IdempotencyKey.Should().Be(first.IdempotencyKey);

        var keyed = OneTime(Now, key: "k");
        await _store.InsertAsync([keyed], default);
        (await _store.InsertAsync([OneTime(Now.AddDays(1), key: "k")], default))[0].Run.Id.Should().Be(keyed.Id);
        (await _store.InsertAsync([OneTime(Now, workflow: "other", key: "k")], default))[0].Created.Should().BeTrue("keys are per workflow");
    }

    /// <summary>Contract: InsertAsync: same key concurrently, creates exactly one run.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task InsertAsync_SameKeyConcurrently_CreatesExactlyOneRun()
    {
        var at = Now.AddMinutes(1);
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () => (await _store.InsertAsync([Occurrence(at)], default))[0])));
        results.Count(r => r.Created).Should().Be(1);
        results.Select(r => r.Run.Id).Distinct().Should().ContainSingle();
    }

    /// <summary>Contract: InsertAsync: round trips every field, in utc.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task InsertAsync_RoundTripsEveryField_InUtc()
    {
        var metadata = new Dictionary<string, string> { ["quote'\"%_"] = "value with \0 NUL", ["big"] = new string('x', 65536) };
        var run = OneTime(new DateTimeOffset(2026, 6, 1, 14, 0, 0, TimeSpan.FromHours(2)), workflow: "w'%_\"", key: "key'%_", input: """{"a":"'%_\u0000"}""", metadata: metadata);
        await _store.InsertAsync([run], default);
        var stored = await _store.GetAsync(run.Id, default);
        stored.Should().NotBeNull();
        stored!.WorkflowName.Should().Be(run.WorkflowName);
        stored.IdempotencyKey.Should().Be(run.IdempotencyKey);
        stored.Input.Should().Be(run.Input);
        stored.Metadata.Should().BeEquivalentTo(metadata);
        stored.ScheduledTime.Should().Be(run.ScheduledTime);
        stored.ScheduledTime.Offset.Should().Be(TimeSpan.Zero);
        stored.Status.Should().Be(RunStatus.Pending);
        stored.Attempt.Should().Be(0);
        stored.CreatedAt.Should().Be(Now);
    }

    /// <summary>Contract: ClaimAsync: concurrently, each run is won once.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimAsync_Concurrently_EachRunIsWonOnce()
    {
        var runs = Enumerable.Range(0, 200).Select(i => OneTime(Now.AddSeconds(-i))).ToList();
        await _store.InsertAsync(runs, default);
        var ids = runs.Select(r => r.Id).ToList();
        var leases = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () => await _store.ClaimAsync(ids, Now, s_lease, "node-a", default))));
        var won = leases.SelectMany(l => l).ToList();
        won.Should().HaveCount(200);
        won.Select(l => l.Run.Id).Should().OnlyHaveUniqueItems();
        won.Should().OnlyContain(l => l.Run.Status == RunStatus.Running && l.Run.Attempt == 1 && l.Run.StartedAt == Now);
    }

    /// <summary>Contract: ClaimAsync: returns leases in the order of the ids.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimAsync_ReturnsLeasesInTheOrderOfTheIds()
    {
        // The scheduler pairs leases with the runs it asked for in one walk, so the order is part of the contract.
        var runs = Enumerable.Range(0, 20).Select(i => OneTime(Now.AddSeconds(-i))).ToList();
        var notDue = OneTime(Now.AddMinutes(5));
        await _store.InsertAsync([.. runs, notDue], default);
        var asked = runs.Select(r => r.Id).Reverse().ToList();
        asked.Insert(7, notDue.Id);
        asked.Insert(3, Guid.NewGuid());
        var leases = await _store.ClaimAsync(asked, Now, s_lease, "node-a", default);
        leases.Select(l => l.Run.Id).Should().Equal(runs.Select(r => r.Id).Reverse());
    }

    /// <summary>Contract: ClaimAsync: only takes due pending runs.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimAsync_OnlyTakesDuePendingRuns()
    {
        var future = OneTime(Now.AddMinutes(1));
        await _store.InsertAsync([future], default);
        (await _store.ClaimAsync([future.Id, Guid.NewGuid()], Now, s_lease, "node-a", default)).Should().BeEmpty();
        (await _store.ClaimAsync([future.Id], Now.AddMinutes(1), s_lease, "node-a", default)).Should().ContainSingle();
    }

    /// <summary>Contract: Lease: when expired, is taken over, and old holder is fenced.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task Lease_WhenExpired_IsTakenOver_AndOldHolderIsFenced()
    {
        var run = OneTime(Now);
        await _store.InsertAsync([run], default);
        var first = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Single();
        (await _store.ClaimAsync([run.Id], Now.AddSeconds(30), s_lease, "node-a", default)).Should().BeEmpty("the lease is live");
        (await _store.GetExpiredLeasesAsync(Now.AddSeconds(30), 10, default)).Should().BeEmpty();
        (await _store.GetExpiredLeasesAsync(Now.Add(s_lease), 10, default)).Should().ContainSingle().Which.Id.Should().Be(run.Id);

        var second = (await _store.ClaimAsync([run.Id], Now.Add(s_lease), s_lease, "node-a", default)).Single();
        second.Token.Should().NotBe(first.Token);
        second.Run.Attempt.Should().Be(2);

        (await _store.CompleteAsync([new RunCompletion(run.Id, first.Token, RunStatus.Succeeded, Now.AddMinutes(2))], default)).Should().Equal(false);
        (await _store.RenewAsync(run.Id, first.Token, Now.AddHours(1), default)).Should().BeFalse();
        (await _store.ReleaseAsync(run.Id, first.Token, Now, null, default)).Should().BeFalse();
        (await _store.GetAsync(run.Id, default))!.Status.Should().Be(RunStatus.Running, "the old holder changed nothing");

        (await _store.CompleteAsync([new RunCompletion(run.Id, second.Token, RunStatus.Failed, Now.AddMinutes(2), new RunError("E", "m"))], default)).Should().Equal(true);
        var ended = await _store.GetAsync(run.Id, default);
        ended!.Status.Should().Be(RunStatus.Failed);
        ended.Error.Should().Be(new RunError("E", "m"));
        ended.CompletedAt.Should().Be(Now.AddMinutes(2));
        (await _store.CompleteAsync([new RunCompletion(run.Id, second.Token, RunStatus.Succeeded, Now.AddMinutes(3))], default)).Should().Equal([false], "a run completes once");
    }

    /// <summary>Contract: RenewAsync: extends lease.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task RenewAsync_ExtendsLease()
    {
        var run = OneTime(Now);
        await _store.InsertAsync([run], default);
        var lease = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Single();
        (await _store.RenewAsync(run.Id, lease.Token, Now.AddMinutes(10), default)).Should().BeTrue();
        (await _store.ClaimAsync([run.Id], Now.AddMinutes(5), s_lease, "node-a", default)).Should().BeEmpty();
        (await _store.GetExpiredLeasesAsync(Now.AddMinutes(5), 10, default)).Should().BeEmpty();
    }

    /// <summary>Contract: ReleaseAsync: returns run to pending, keeping attempts.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ReleaseAsync_ReturnsRunToPending_KeepingAttempts()
    {
        var run = OneTime(Now);
        await _store.InsertAsync([run], default);
        var lease = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Single();
        (await _store.ReleaseAsync(run.Id, lease.Token, Now.AddMinutes(5), new RunError("E", "retry"), default)).Should().BeTrue();
        var released = await _store.GetAsync(run.Id, default);
        released!.Status.Should().Be(RunStatus.Pending);
        released.DueTime.Should().Be(Now.AddMinutes(5));
        released.ScheduledTime.Should().Be(Now, "the occurrence it stands for does not move");
        released.Attempt.Should().Be(1);
        (await _store.ClaimAsync([run.Id], Now.AddMinutes(4), s_lease, "node-a", default)).Should().BeEmpty();
        (await _store.ClaimAsync([run.Id], Now.AddMinutes(5), s_lease, "node-a", default)).Single().Run.Attempt.Should().Be(2);
    }

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

    /// <summary>Contract: ReleaseOwnedAsync: frees only that owners running runs, keeping attempts.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ReleaseOwnedAsync_FreesOnlyThatOwnersRunningRuns_KeepingAttempts()
    {
        var mine = OneTime(Now);
        var theirs = OneTime(Now);
        await _store.InsertAsync([mine, theirs], default);
        var myLease = (await _store.ClaimAsync([mine.Id], Now, s_lease, "node-a", default)).Single();
        await _store.ClaimAsync([theirs.Id], Now, s_lease, "node-b", default);

        (await _store.ReleaseOwnedAsync("node-a", default)).Should().Be(1);
        var released = await _store.GetAsync(mine.Id, default);
        released!.Status.Should().Be(RunStatus.Pending);
        released.Attempt.Should().Be(1);
        (await _store.GetAsync(theirs.Id, default))!.Status.Should().Be(RunStatus.Running);
        (await _store.CompleteAsync([new RunCompletion(mine.Id, myLease.Token, RunStatus.Succeeded, Now)], default)).Should().Equal([false], "the old lease is gone");
        (await _store.ClaimAsync([mine.Id], Now, s_lease, "node-a", default)).Single().Run.Attempt.Should().Be(2, "claimable at once, not after the lease");
        (await _store.ReleaseOwnedAsync("node-c", default)).Should().Be(0);
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

    /// <summary>Contract: CompleteAsync: after afailed attempt, records the last attempt only.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task CompleteAsync_AfterAFailedAttempt_RecordsTheLastAttemptOnly()
    {
        var run = OneTime(Now);
        await _store.InsertAsync([run], default);
        var first = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Single();
        var failure = new RunError("System.InvalidOperationException", "boom");
        (await _store.ReleaseAsync(run.Id, first.Token, Now.AddSeconds(10), failure, default)).Should().BeTrue();
        var released = await _store.GetAsync(run.Id, default);
        released!.Status.Should().Be(RunStatus.Pending);
        released.Error.Should().Be(failure);
        released.CompletedAt.Should().BeNull();

        var second = (await _store.ClaimAsync([run.Id], Now.AddSeconds(10), s_lease, "node-a", default)).Single();
        second.Run.Attempt.Should().Be(2);
        second.Run.Error.Should().Be(failure, "the claim shows why the previous attempt failed");
        second.Token.Should().NotBe(first.Token);
        (await _store.CompleteAsync([new RunCompletion(run.Id, second.Token, RunStatus.Succeeded, Now.AddSeconds(11))], default)).Should().Equal(true);

        var ended = await _store.GetAsync(run.Id, default);
        ended!.Status.Should().Be(RunStatus.Succeeded);
        ended.Error.Should().BeNull("the last attempt succeeded");
        ended.StartedAt.Should().Be(Now.AddSeconds(10));
        ended.CompletedAt.Should().Be(Now.AddSeconds(11));
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

    /// <summary>Contract: InsertAsync: keeps the trace context of the caller, through claims and retries.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task TraceParent_RoundTrips()
    {
        const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        var run = OneTime(Now) with { TraceParent = TraceParent };
        await _store.InsertAsync([run], default);
        (await _store.GetAsync(run.Id, default))!.TraceParent.Should().Be(TraceParent);
        var lease = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Single();
        lease.Run.TraceParent.Should().Be(TraceParent);
        (await _store.ListAsync(new RunQuery(), default)).Items.Single().TraceParent.Should().Be(TraceParent);
    }

    /// <summary>Contract: a call whose token is already cancelled throws <see cref="OperationCanceledException"/> and changes nothing.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task EveryCall_WithACancelledToken_ThrowsOperationCanceled_AndChangesNothing()
    {
        var stored = OneTime(Now);
        await _store.InsertAsync([stored], default);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var token = cancelled.Token;
        var fresh = OneTime(Now);
        var calls = new Dictionary<string, Func<Task>>
        {
            ["InsertAsync"] = async () => await _store.InsertAsync([fresh], token),
            ["InsertOneAsync"] = async () => await _store.InsertOneAsync(fresh, token),
            ["GetAsync"] = async () => await _store.GetAsync(stored.Id, token),
            ["ListAsync"] = async () => await _store.ListAsync(new RunQuery(), token),
            ["DeleteAsync(ids)"] = async () => await _store.DeleteAsync([stored.Id], token),
            ["DeleteAsync(filter)"] = async () => await _store.DeleteAsync(new RunQuery(), token),
            ["RescheduleAsync"] = async () => await _store.RescheduleAsync([new RunTimeChange(stored.Id, Now.AddHours(1))], token),
            ["SkipPendingAsync"] = async () => await _store.SkipPendingAsync([stored.Id], Now, new RunError("t", "m"), token),
            ["GetDueAsync"] = async () => await _store.GetDueAsync(Now, 10, null, token),
            ["GetExpiredLeasesAsync"] = async () => await _store.GetExpiredLeasesAsync(Now, 10, token),
            ["ClaimAsync"] = async () => await _store.ClaimAsync([stored.Id], Now, s_lease, "node-a", token),
            ["ReleaseOwnedAsync"] = async () => await _store.ReleaseOwnedAsync("node-a", token),
            ["AdvanceWatermarkAsync"] = async () => await _store.AdvanceWatermarkAsync("cron", Now, token),
            ["GetWatermarkAsync"] = async () => await _store.GetWatermarkAsync("cron", token),
            ["PurgeAsync"] = async () => await _store.PurgeAsync(Now.AddDays(1), 10, token),
        };
        foreach (var (name, call) in calls)
        {
            await call.Should().ThrowAsync<OperationCanceledException>(name);
        }

        var after = await _store.GetAsync(stored.Id, default);
        after.Should().NotBeNull("a cancelled delete deletes nothing");
        after!.Status.Should().Be(RunStatus.Pending, "a cancelled claim claims nothing");
        after.ScheduledTime.Should().Be(Now, "a cancelled reschedule moves nothing");
        after.Status.Should().Be(RunStatus.Pending, "a cancelled skip skips nothing");
        (await _store.GetAsync(fresh.Id, default)).Should().BeNull("a cancelled insert inserts nothing");
        (await _store.GetWatermarkAsync("cron", default)).Should().BeNull("a cancelled watermark write writes nothing");
    }

    /// <summary>
    /// Contract: while the backing resource is unavailable, a write fails; every call fails only with
    /// <see cref="IOException"/> or <see cref="TimeoutException"/> (never a provider exception); a failed call changes
    /// nothing; the store works again once the resource is back.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task EveryCall_WhenTheStoreIsUnavailable_FailsOnlyWithIOExceptionOrTimeout_AndChangesNothing()
    {
        var stored = OneTime(Now);
        await _store.InsertAsync([stored], default);
        var outage = await MakeUnavailableAsync(_store);
        if (outage is null)
        {
            Assert.Ignore("This store has no backing resource to lose (MakeUnavailableAsync returns null).");
            return;
        }

        var fresh = OneTime(Now);
        var failures = new Dictionary<string, Exception?>();
        await using (outage)
        {
            var calls = new Dictionary<string, Func<Task>>
            {
                ["InsertAsync"] = async () => await _store.InsertAsync([fresh], default),
                ["GetAsync"] = async () => await _store.GetAsync(stored.Id, default),
                ["ListAsync"] = async () => await _store.ListAsync(new RunQuery(), default),
                ["DeleteAsync(ids)"] = async () => await _store.DeleteAsync([stored.Id], default),
                ["RescheduleAsync"] = async () => await _store.RescheduleAsync([new RunTimeChange(stored.Id, Now.AddHours(1))], default),
                ["GetDueAsync"] = async () => await _store.GetDueAsync(Now, 10, null, default),
                ["GetExpiredLeasesAsync"] = async () => await _store.GetExpiredLeasesAsync(Now, 10, default),
                ["ClaimAsync"] = async () => await _store.ClaimAsync([stored.Id], Now, s_lease, "node-a", default),
                ["AdvanceWatermarkAsync"] = async () => await _store.AdvanceWatermarkAsync("cron", Now, default),
                ["GetWatermarkAsync"] = async () => await _store.GetWatermarkAsync("cron", default),
                ["PurgeAsync"] = async () => await _store.PurgeAsync(Now.AddDays(1), 10, default),
            };
            foreach (var (name, call) in calls)
            {
                try
                {
                    await call();
                    failures[name] = null;
                }
                catch (Exception e)
                {
                    failures[name] = e;
                }
            }
        }

        failures["InsertAsync"].Should().NotBeNull("a write cannot succeed while the store is unavailable");
        foreach (var (name, error) in failures)
        {
            if (error is not null)
            {
                error.Should().Match(e => e is IOException || e is TimeoutException, $"{name} failed with {error.GetType().FullName}: {error.Message}");
            }
        }

        var after = await _store.GetAsync(stored.Id, default);
        if (failures["DeleteAsync(ids)"] is not null)
        {
            after.Should().NotBeNull("the failed delete changed nothing");
        }

        if (after is not null && failures["ClaimAsync"] is not null && failures["RescheduleAsync"] is not null)
        {
            after.Status.Should().Be(RunStatus.Pending, "the failed claim changed nothing");
            after.ScheduledTime.Should().Be(Now, "the failed reschedule changed nothing");
        }

        (await _store.GetAsync(fresh.Id, default)).Should().BeNull("the failed insert inserted nothing");
        (await _store.InsertAsync([OneTime(Now)], default)).Single().Created.Should().BeTrue("the store works again once the resource is back");
    }
}
