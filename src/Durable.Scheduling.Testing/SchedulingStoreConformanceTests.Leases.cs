using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

// Claims and leases: exclusive claims, fencing, renewal, release, completion.
public abstract partial class SchedulingStoreConformanceTests
{
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

    /// <summary>Contract: Lease: while live (by the claimer's instant), is not taken over, nor reported expired.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task Lease_WhileLive_IsNotTakenOver()
    {
        var run = OneTime(Now);
        await _store.InsertAsync([run], default);
        (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Should().ContainSingle();
        (await _store.ClaimAsync([run.Id], Now.AddSeconds(30), s_lease, "node-b", default)).Should().BeEmpty("the lease is live");
        (await _store.GetExpiredLeasesAsync(Now.AddSeconds(30), 10, default)).Should().BeEmpty();
    }

    /// <summary>
    /// Contract: Lease: when expired, is taken over, and old holder is fenced. The lease here has no length, so it has
    /// expired by any clock: a store shared by processes may also require a lease to have run its length on its own
    /// clock (see <see cref="ISchedulingStore"/>), and this test must not depend on real time passing.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task Lease_WhenExpired_IsTakenOver_AndOldHolderIsFenced()
    {
        var run = OneTime(Now);
        await _store.InsertAsync([run], default);
        var first = (await _store.ClaimAsync([run.Id], Now, TimeSpan.Zero, "node-a", default)).Single();
        first.ExpiresAt.Should().Be(Now);
        (await _store.GetExpiredLeasesAsync(Now.AddSeconds(1), 10, default)).Should().ContainSingle().Which.Id.Should().Be(run.Id);

        var second = (await _store.ClaimAsync([run.Id], Now.AddSeconds(1), s_lease, "node-b", default)).Single();
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

    /// <summary>
    /// Contract: UnclaimAsync: the run is pending again as if never claimed (attempt and start undone, due time kept),
    /// and claimable at once by anyone; the old token is fenced out.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task UnclaimAsync_ReturnsRunToPending_AsIfNeverClaimed()
    {
        var run = OneTime(Now);
        await _store.InsertAsync([run], default);
        var lease = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Single();
        (await _store.UnclaimAsync(run.Id, lease.Token, default)).Should().BeTrue();

        var unclaimed = await _store.GetAsync(run.Id, default);
        unclaimed!.Status.Should().Be(RunStatus.Pending);
        unclaimed.Attempt.Should().Be(0, "the attempt never began");
        unclaimed.StartedAt.Should().BeNull();
        unclaimed.DueTime.Should().Be(Now);
        (await _store.GetExpiredLeasesAsync(Now.AddDays(1), 10, default)).Should().BeEmpty("no lease is left");
        (await _store.UnclaimAsync(run.Id, lease.Token, default)).Should().BeFalse("the claim is undone already");
        (await _store.CompleteAsync([new RunCompletion(run.Id, lease.Token, RunStatus.Succeeded, Now)], default)).Should().Equal(false);

        var again = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-b", default)).Single();
        again.Run.Attempt.Should().Be(1);
        again.Run.StartedAt.Should().Be(Now);
    }

    /// <summary>
    /// Contract: UnclaimAsync: of a retry, takes back only that attempt (the earlier ones and their error stay); with a
    /// stale token or on a run that is not running, changes nothing.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task UnclaimAsync_OfARetry_KeepsEarlierAttempts_AndAStaleTokenChangesNothing()
    {
        var run = OneTime(Now);
        var pending = OneTime(Now);
        await _store.InsertAsync([run, pending], default);
        var first = (await _store.ClaimAsync([run.Id], Now, s_lease, "node-a", default)).Single();
        (await _store.ReleaseAsync(run.Id, first.Token, Now.AddSeconds(10), new RunError("E", "retry"), default)).Should().BeTrue();
        var second = (await _store.ClaimAsync([run.Id], Now.AddSeconds(10), s_lease, "node-a", default)).Single();
        second.Run.Attempt.Should().Be(2);

        (await _store.UnclaimAsync(run.Id, first.Token, default)).Should().BeFalse("a stale token");
        (await _store.UnclaimAsync(pending.Id, first.Token, default)).Should().BeFalse("not running");
        (await _store.UnclaimAsync(Guid.NewGuid(), second.Token, default)).Should().BeFalse("absent");
        (await _store.GetAsync(run.Id, default))!.Status.Should().Be(RunStatus.Running);
        (await _store.GetAsync(pending.Id, default))!.Attempt.Should().Be(0);

        (await _store.UnclaimAsync(run.Id, second.Token, default)).Should().BeTrue();
        var unclaimed = await _store.GetAsync(run.Id, default);
        unclaimed!.Status.Should().Be(RunStatus.Pending);
        unclaimed.Attempt.Should().Be(1);
        unclaimed.DueTime.Should().Be(Now.AddSeconds(10));
        unclaimed.Error.Should().Be(new RunError("E", "retry"));
        (await _store.ClaimAsync([run.Id], Now.AddSeconds(10), s_lease, "node-b", default)).Single().Run.Attempt.Should().Be(2);
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

    /// <summary>Contract: GetLeaseOwnersAsync: each owner of a running run's lease once, expired or not; none of an ended, released or pending run.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task GetLeaseOwnersAsync_ListsEachOwnerOfARunningRunOnce_ExpiredOrNot_AndNoOther()
    {
        var runs = Enumerable.Range(0, 6).Select(_ => OneTime(Now)).ToList();
        await _store.InsertAsync(runs, default);
        (await _store.GetLeaseOwnersAsync(default)).Should().BeEmpty("nothing is running");

        await _store.ClaimAsync([runs[0].Id, runs[1].Id], Now, s_lease, "node-a", default);
        await _store.ClaimAsync([runs[2].Id], Now, TimeSpan.FromSeconds(1), "node-b \u00e9|x", default); // expires: still running
        var ended = (await _store.ClaimAsync([runs[3].Id], Now, s_lease, "node-c", default)).Single();
        await _store.CompleteAsync([new RunCompletion(ended.Run.Id, ended.Token, RunStatus.Succeeded, Now)], default);
        var released = (await _store.ClaimAsync([runs[4].Id], Now, s_lease, "node-d", default)).Single();
        await _store.ReleaseAsync(released.Run.Id, released.Token, Now.AddMinutes(1), null, default);

        (await _store.GetLeaseOwnersAsync(default)).Should().BeEquivalentTo(["node-a", "node-b \u00e9|x"], "runs[5] is pending, node-c's ended, node-d's released");
        (await _store.ReleaseOwnedAsync("node-a", default)).Should().Be(2);
        (await _store.GetLeaseOwnersAsync(default)).Should().Equal("node-b \u00e9|x");
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
}
