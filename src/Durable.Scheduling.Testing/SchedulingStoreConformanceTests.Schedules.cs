using System.Globalization;
using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

// Recurring schedules: create once, optimistic updates, deletes, the change sequence, lists, counters, and the
// schedule carried by runs.
public abstract partial class SchedulingStoreConformanceTests
{
    /// <summary>A schedule as the scheduler would store it.</summary>
    /// <param name="id">Its id.</param>
    /// <param name="workflow">Its workflow.</param>
    /// <param name="metadata">Its metadata, or null.</param>
    /// <param name="paused">Paused or not.</param>
    /// <param name="remaining">Remaining runs, or null.</param>
    /// <returns>The schedule.</returns>
    protected static StoredSchedule Schedule(string id, string workflow = "wf", IReadOnlyDictionary<string, string>? metadata = null, bool paused = false, long? remaining = null) => new()
    {
        Id = id,
        WorkflowName = workflow,
        Definition = """{"Spec":{"Cron":["0 * * * * *"]},"Note":"'; DROP TABLE x; -- é \u00e9"}""",
        Metadata = metadata ?? new Dictionary<string, string>(),
        Paused = paused,
        CreatedAt = Now,
        UpdatedAt = Now,
        SpecSince = Now,
        RemainingRuns = remaining,
    };

    /// <summary>Contract: a schedule is stored once per id, as given, at version 1 with a sequence; a second create of the id is refused.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task CreateScheduleAsync_StoresItAsGiven_Once()
    {
        var schedule = Schedule("reports/daily 'q'", metadata: new Dictionary<string, string> { ["team"] = "a\"b", ["é"] = "%_" }, paused: true, remaining: 5) with { Note = "why" };
        (await _store.CreateScheduleAsync(schedule, default)).Should().BeTrue();
        (await _store.CreateScheduleAsync(Schedule("reports/daily 'q'", workflow: "other"), default)).Should().BeFalse("the id exists");

        var stored = await _store.GetScheduleAsync("reports/daily 'q'", default);
        stored.Should().NotBeNull();
        stored!.WorkflowName.Should().Be("wf", "the refused create changed nothing");
        stored.Definition.Should().Be(schedule.Definition);
        stored.Metadata.Should().BeEquivalentTo(schedule.Metadata);
        stored.Paused.Should().BeTrue();
        stored.Note.Should().Be("why");
        stored.CreatedAt.Should().Be(Now);
        stored.SpecSince.Should().Be(Now);
        stored.RemainingRuns.Should().Be(5);
        stored.Version.Should().Be(1);
        stored.Sequence.Should().BePositive();
        stored.Deleted.Should().BeFalse();
        stored.Counters.IsZero.Should().BeTrue();
        (await _store.GetScheduleAsync("absent", default)).Should().BeNull();
    }

    /// <summary>Contract: of concurrent creates of one id, exactly one wins.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task CreateScheduleAsync_Concurrently_CreatesItOnce()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () => await _store.CreateScheduleAsync(Schedule("same", workflow: "wf" + i), default))));
        results.Count(created => created).Should().Be(1);
    }

    /// <summary>Contract: an update counts only at the version read; it moves the version and the sequence, leaves counters, and sets remaining runs only when asked.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task UpdateScheduleAsync_IsOptimistic_AndLeavesCounters()
    {
        await _store.CreateScheduleAsync(Schedule("s", remaining: 10), default);
        await _store.AddScheduleCountsAsync([new ScheduleCountChange("s", new ScheduleCounters { Runs = 3, Succeeded = 2 }, 3)], default);
        var read = (await _store.GetScheduleAsync("s", default))!;
        read.RemainingRuns.Should().Be(7);

        var changed = read with { Paused = true, Note = "maintenance", Definition = "{}", UpdatedAt = Now.AddMinutes(1), RemainingRuns = 100 };
        (await _store.UpdateScheduleAsync(changed, read.Version, setRemainingRuns: false, default)).Should().BeTrue();
        (await _store.UpdateScheduleAsync(changed with { Note = "stale" }, read.Version, setRemainingRuns: false, default)).Should().BeFalse("the version moved");
        (await _store.UpdateScheduleAsync(Schedule("absent"), 1, setRemainingRuns: false, default)).Should().BeFalse();

        var after = (await _store.GetScheduleAsync("s", default))!;
        after.Version.Should().Be(read.Version + 1);
        after.Sequence.Should().BeGreaterThan(read.Sequence);
        after.Paused.Should().BeTrue();
        after.Note.Should().Be("maintenance");
        after.Definition.Should().Be("{}");
        after.UpdatedAt.Should().Be(Now.AddMinutes(1));
        after.RemainingRuns.Should().Be(7, "remaining runs change only when asked");
        after.Counters.Should().Be(new ScheduleCounters { Runs = 3, Succeeded = 2 });

        (await _store.UpdateScheduleAsync(after with { RemainingRuns = 50 }, after.Version, setRemainingRuns: true, default)).Should().BeTrue();
        (await _store.GetScheduleAsync("s", default))!.RemainingRuns.Should().Be(50);
    }

    /// <summary>Contract: a deleted schedule is gone from reads and lists, shows in the changes as deleted, and its id can be created again afresh.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task DeleteScheduleAsync_HidesIt_TellsTheChange_AndFreesTheId()
    {
        await _store.CreateScheduleAsync(Schedule("s"), default);
        await _store.AddScheduleCountsAsync([new ScheduleCountChange("s", new ScheduleCounters { Runs = 4 }, 0)], default);
        var before = (await _store.GetScheduleAsync("s", default))!;
        (await _store.DeleteScheduleAsync("s", Now.AddMinutes(1), default)).Should().BeTrue();
        (await _store.DeleteScheduleAsync("s", Now.AddMinutes(1), default)).Should().BeFalse("deleted already");
        (await _store.DeleteScheduleAsync("absent", Now, default)).Should().BeFalse();

        (await _store.GetScheduleAsync("s", default)).Should().BeNull();
        (await _store.ListSchedulesAsync(new ScheduleQuery(), default)).Items.Should().BeEmpty();
        (await _store.UpdateScheduleAsync(before, before.Version, false, default)).Should().BeFalse("a deleted schedule cannot be updated");
        var change = (await _store.GetScheduleChangesAsync(before.Sequence, 10, default)).Single();
        change.Id.Should().Be("s");
        change.Deleted.Should().BeTrue();

        (await _store.CreateScheduleAsync(Schedule("s", workflow: "again"), default)).Should().BeTrue("a deleted id can be used again");
        var again = (await _store.GetScheduleAsync("s", default))!;
        again.WorkflowName.Should().Be("again");
        again.Version.Should().Be(1);
        again.Counters.IsZero.Should().BeTrue("a new schedule starts with no counts");
        again.Sequence.Should().BeGreaterThan(change.Sequence);
    }

    /// <summary>Contract: changes come in sequence order and resume after the last seen; sequences never go back, even after deleted schedules are purged.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task GetScheduleChangesAsync_InSequenceOrder_AndSequencesNeverGoBack()
    {
        foreach (var id in new[] { "c", "a", "b" })
        {
            await _store.CreateScheduleAsync(Schedule(id), default);
        }

        var a = (await _store.GetScheduleAsync("a", default))!;
        await _store.UpdateScheduleAsync(a with { Note = "n" }, a.Version, false, default);
        var all = await _store.GetScheduleChangesAsync(0, 100, default);
        all.Select(s => s.Id).Should().Equal("c", "b", "a");
        all.Select(s => s.Sequence).Should().BeInAscendingOrder().And.OnlyHaveUniqueItems();
        (await _store.GetScheduleChangesAsync(all[0].Sequence, 1, default)).Single().Id.Should().Be("b", "a page resumes after the last seen");

        await _store.DeleteScheduleAsync("c", Now, default);
        await _store.DeleteScheduleAsync("b", Now, default);
        long highest = (await _store.GetScheduleChangesAsync(0, 100, default)).Max(s => s.Sequence);
        await _store.PurgeAsync(Now.AddDays(1), 100, default);
        (await _store.GetScheduleChangesAsync(0, 100, default)).Where(s => s.Deleted).Should().HaveCountLessThan(2, "deleted schedules are purged");
        await _store.CreateScheduleAsync(Schedule("d"), default);
        (await _store.GetScheduleAsync("d", default))!.Sequence.Should().BeGreaterThan(highest, "a sequence is never handed out twice");
    }

    /// <summary>Contract: lists filter by pause state, workflow, id prefix and metadata, and page in ordinal id order.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ListSchedulesAsync_Filters_AndPagesInIdOrder()
    {
        await _store.CreateScheduleAsync(Schedule("tenant-1/b", metadata: new Dictionary<string, string> { ["tier"] = "gold" }), default);
        await _store.CreateScheduleAsync(Schedule("tenant-1/a", workflow: "other", paused: true), default);
        await _store.CreateScheduleAsync(Schedule("tenant-2/a", metadata: new Dictionary<string, string> { ["tier"] = "gold", ["x"] = "y" }), default);
        await _store.CreateScheduleAsync(Schedule("Tenant-1/c"), default);
        await _store.CreateScheduleAsync(Schedule("tenant-1_%"), default);

        async Task<List<string>> Ids(ScheduleQuery query)
        {
            var ids = new List<string>();
            do
            {
                var page = await _store.ListSchedulesAsync(query, default);
                page.Items.Count.Should().BeLessThanOrEqualTo(query.PageSize);
                ids.AddRange(page.Items.Select(s => s.Id));
                query = query with { ContinuationToken = page.ContinuationToken };
            }
            while (query.ContinuationToken is not null);
            return ids;
        }

        (await Ids(new ScheduleQuery { PageSize = 2 })).Should().Equal("Tenant-1/c", "tenant-1/a", "tenant-1/b", "tenant-1_%", "tenant-2/a");
        (await Ids(new ScheduleQuery { IdPrefix = "tenant-1/" })).Should().Equal("tenant-1/a", "tenant-1/b");
        (await Ids(new ScheduleQuery { IdPrefix = "tenant-1_" })).Should().Equal("tenant-1_%");
        (await Ids(new ScheduleQuery { IdPrefix = "tenant-1", Paused = false, PageSize = 1 })).Should().Equal("tenant-1/b", "tenant-1_%");
        (await Ids(new ScheduleQuery { IdPrefix = "tenant-", WorkflowName = "other" })).Should().Equal("tenant-1/a");
        (await Ids(new ScheduleQuery { IdPrefix = "tenant-1/", Metadata = new Dictionary<string, string> { ["tier"] = "gold" } })).Should().Equal("tenant-1/b");
        (await Ids(new ScheduleQuery { IdPrefix = "tenant-3" })).Should().BeEmpty();
        (await Ids(new ScheduleQuery { Paused = true })).Should().Equal("tenant-1/a");
        (await Ids(new ScheduleQuery { Paused = false, WorkflowName = "wf", PageSize = 1 })).Should().Equal("Tenant-1/c", "tenant-1/b", "tenant-1_%", "tenant-2/a");
        (await Ids(new ScheduleQuery { Metadata = new Dictionary<string, string> { ["tier"] = "gold" } })).Should().Equal("tenant-1/b", "tenant-2/a");
        (await Ids(new ScheduleQuery { Metadata = new Dictionary<string, string> { ["tier"] = "gold", ["x"] = "y" } })).Should().Equal("tenant-2/a");
        (await Ids(new ScheduleQuery { WorkflowName = "none" })).Should().BeEmpty();
    }

    /// <summary>
    /// Contract: a list resumes after its token even when that schedule was deleted meanwhile, and an id prefix pages
    /// through only its own ids, in ordinal order, among many others.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ListSchedulesAsync_ResumesAfterADeletedToken_AndPagesAPrefixAmongOthers()
    {
        // "x/…" sorts before "x0…" ('/' precedes the digits), and "X…" before both; 300 ids in three interleaved families.
        var ids = Enumerable.Range(0, 300).Select(i => (i % 3) switch { 0 => "x/", 1 => "x", _ => "X" } + ((i * 7919) % 1000).ToString("D3", CultureInfo.InvariantCulture)).ToList();
        foreach (string id in ids)
        {
            (await _store.CreateScheduleAsync(Schedule(id), default)).Should().BeTrue();
        }

        var read = new List<string>();
        var deleted = new List<string>();
        var query = new ScheduleQuery { IdPrefix = "x/", PageSize = 7 };
        do
        {
            var page = await _store.ListSchedulesAsync(query, default);
            page.Items.Count.Should().BeLessThanOrEqualTo(7);
            read.AddRange(page.Items.Select(s => s.Id));
            if (page.ContinuationToken is { } token)
            {
                (await _store.DeleteScheduleAsync(token, Now, default)).Should().BeTrue("the token names the page's last schedule");
                deleted.Add(token);
            }

            query = query with { ContinuationToken = page.ContinuationToken };
        }
        while (query.ContinuationToken is not null);

        read.Should().Equal(ids.Where(id => id.StartsWith("x/", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        var rest = await _store.ListSchedulesAsync(new ScheduleQuery { PageSize = 1000, ContinuationToken = "x/" }, default);
        rest.Items.Select(s => s.Id).Should().Equal(
            ids.Where(id => string.CompareOrdinal(id, "x/") > 0 && !deleted.Contains(id)).Order(StringComparer.Ordinal),
            "the deleted tokens are gone, everything else after \"x/\" is listed");
    }

    /// <summary>Contract: counts add up (a negative delta subtracts); remaining runs never go below zero; an unlimited schedule stays unlimited.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task AddScheduleCountsAsync_Adds_AndTakesFromRemainingRuns()
    {
        await _store.CreateScheduleAsync(Schedule("limited", remaining: 2), default);
        await _store.CreateScheduleAsync(Schedule("unlimited"), default);
        await _store.AddScheduleCountsAsync([new ScheduleCountChange("limited", new ScheduleCounters { Runs = 1, Missed = 4 }, 1)], default);
        await _store.AddScheduleCountsAsync([new ScheduleCountChange("limited", new ScheduleCounters { Runs = 2, Skipped = 1, Dropped = 2, Failed = 1 }, 2)], default);
        await _store.AddScheduleCountsAsync([new ScheduleCountChange("unlimited", new ScheduleCounters { Runs = 9 }, 9)], default);
        await _store.AddScheduleCountsAsync([new ScheduleCountChange("absent", new ScheduleCounters { Runs = 9 }, 9)], default);
        // A negative delta subtracts: the scheduler takes back the runs counted by claims of occurrences it then skipped.
        await _store.AddScheduleCountsAsync([new ScheduleCountChange("limited", new ScheduleCounters { Runs = -1, Skipped = 1 })], default);

        var limited = (await _store.GetScheduleAsync("limited", default))!;
        limited.Counters.Should().Be(new ScheduleCounters { Runs = 2, Missed = 4, Skipped = 2, Dropped = 2, Failed = 1 });
        limited.RemainingRuns.Should().Be(0);
        (await _store.GetScheduleAsync("unlimited", default))!.RemainingRuns.Should().BeNull();
        (await _store.GetScheduleAsync("absent", default)).Should().BeNull("counting creates nothing");
    }

    /// <summary>Contract: a completion that counts adds its outcome to its schedule's counters in the same call; one that does not count adds nothing.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task CompleteAsync_CountsOutcomesOnTheRunsSchedule()
    {
        await _store.CreateScheduleAsync(Schedule("s"), default);
        var runs = Enumerable.Range(0, 4).Select(i => ScheduleRun("s", Now.AddSeconds(i))).ToList();
        await _store.InsertAsync(runs, default);
        var leases = await _store.ClaimAsync([.. runs.Select(r => r.Id)], Now.AddSeconds(10), s_lease, "node-a", default);
        var statuses = new[] { RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled, RunStatus.Succeeded };
        var completions = leases.Select((l, i) => new RunCompletion(l.Run.Id, l.Token, statuses[i], Now.AddSeconds(11)) { ScheduleId = "s" }).ToList();
        completions[3] = completions[3] with { LeaseToken = Guid.NewGuid() }; // a stale holder: does not count
        (await _store.CompleteAsync(completions, default)).Should().Equal(true, true, true, false);

        (await _store.GetScheduleAsync("s", default))!.Counters.Should().Be(new ScheduleCounters { Runs = 4, Succeeded = 1, Failed = 2 });
    }

    /// <summary>
    /// Contract: a run of a schedule counts in the schedule's Runs when claimed for its first attempt, once: a retry,
    /// a takeover after its lease expired and a one-time run add nothing; an occurrence stored without its schedule
    /// counts on the schedule named after its workflow.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimAsync_CountsARunOfASchedule_AtItsFirstAttemptOnly()
    {
        await _store.CreateScheduleAsync(Schedule("s"), default);
        await _store.CreateScheduleAsync(Schedule("wf"), default);
        var a = ScheduleRun("s", Now);
        var b = ScheduleRun("s", Now.AddSeconds(1), RunKind.Triggered);
        var implied = ScheduleRun("s", Now) with { ScheduleId = null, IdempotencyKey = RunKeys.Occurrence("wf", Now) };
        var oneTime = OneTime(Now);
        await _store.InsertAsync([a, b, implied, oneTime], default);
        (await _store.GetScheduleAsync("s", default))!.Counters.Runs.Should().Be(0, "created is not started");

        var leases = await _store.ClaimAsync([a.Id, implied.Id, oneTime.Id], Now.AddSeconds(2), s_lease, "node-a", default);
        leases.Should().HaveCount(3);
        (await _store.ClaimAsync([b.Id], Now.AddSeconds(2), TimeSpan.Zero, "node-a", default)).Should().ContainSingle(); // its lease ends at once
        (await _store.GetScheduleAsync("s", default))!.Counters.Runs.Should().Be(2);
        (await _store.GetScheduleAsync("wf", default))!.Counters.Runs.Should().Be(1, "an occurrence stored without its schedule is its workflow's");

        var leaseOfA = leases.Single(l => l.Run.Id == a.Id);
        (await _store.ReleaseAsync(a.Id, leaseOfA.Token, Now.AddSeconds(3), null, default)).Should().BeTrue(); // a retry
        (await _store.ClaimAsync([a.Id], Now.AddSeconds(3), s_lease, "node-a", default)).Should().ContainSingle().Which.Run.Attempt.Should().Be(2);
        (await _store.ClaimAsync([b.Id], Now.AddSeconds(3), s_lease, "node-b", default))
            .Should().ContainSingle("its lease expired: another instance takes it over").Which.Run.Attempt.Should().Be(2);
        (await _store.GetScheduleAsync("s", default))!.Counters.Runs.Should().Be(2, "a retry and a takeover are not new runs");
    }

    /// <summary>
    /// Contract: undoing the claim of a schedule's run at its first attempt takes back the one the claim added to the
    /// schedule's Runs (an occurrence stored without its schedule: its workflow's), so the claim that then starts it
    /// counts it once; undoing a retry's claim takes back nothing.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task UnclaimAsync_TakesBackTheRunItsFirstClaimCounted()
    {
        await _store.CreateScheduleAsync(Schedule("s"), default);
        await _store.CreateScheduleAsync(Schedule("wf"), default);
        var a = ScheduleRun("s", Now);
        var implied = ScheduleRun("s", Now) with { ScheduleId = null, IdempotencyKey = RunKeys.Occurrence("wf", Now) };
        await _store.InsertAsync([a, implied], default);
        var leases = await _store.ClaimAsync([a.Id, implied.Id], Now, s_lease, "node-a", default);
        (await _store.GetScheduleAsync("s", default))!.Counters.Runs.Should().Be(1);
        (await _store.GetScheduleAsync("wf", default))!.Counters.Runs.Should().Be(1);

        (await _store.UnclaimAsync(a.Id, leases[0].Token, default)).Should().BeTrue();
        (await _store.UnclaimAsync(implied.Id, leases[1].Token, default)).Should().BeTrue();
        (await _store.GetScheduleAsync("s", default))!.Counters.Runs.Should().Be(0);
        (await _store.GetScheduleAsync("wf", default))!.Counters.Runs.Should().Be(0);

        var lease = (await _store.ClaimAsync([a.Id], Now, s_lease, "node-b", default)).Single();
        (await _store.GetScheduleAsync("s", default))!.Counters.Runs.Should().Be(1, "started once");
        (await _store.ReleaseAsync(a.Id, lease.Token, Now.AddSeconds(1), null, default)).Should().BeTrue(); // a retry
        var retry = (await _store.ClaimAsync([a.Id], Now.AddSeconds(1), s_lease, "node-b", default)).Single();
        (await _store.UnclaimAsync(a.Id, retry.Token, default)).Should().BeTrue();
        (await _store.GetScheduleAsync("s", default))!.Counters.Runs.Should().Be(1, "its first attempt did start");
    }

    /// <summary>
    /// Contract: a pending occurrence of a paused or deleted schedule is not claimed (an instance that has not yet read
    /// the change would start it); once resumed it is. Its triggered runs are claimed, as is an occurrence that had
    /// started and whose lease expired (a takeover).
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimAsync_LeavesPendingOccurrencesOfAPausedOrDeletedSchedule()
    {
        await _store.CreateScheduleAsync(Schedule("p"), default);
        await _store.CreateScheduleAsync(Schedule("d"), default);
        await _store.CreateScheduleAsync(Schedule("wf"), default);
        var occurrence = ScheduleRun("p", Now);
        var triggered = ScheduleRun("p", Now, RunKind.Triggered);
        var started = ScheduleRun("p", Now.AddSeconds(-1));
        var ofDeleted = ScheduleRun("d", Now);
        var implied = ScheduleRun("p", Now) with { ScheduleId = null, IdempotencyKey = RunKeys.Occurrence("wf", Now) }; // a code-defined schedule's
        await _store.InsertAsync([occurrence, triggered, started, ofDeleted, implied], default);
        (await _store.ClaimAsync([started.Id], Now, TimeSpan.Zero, "node-a", default)).Should().ContainSingle(); // its lease ends at once

        var p = (await _store.GetScheduleAsync("p", default))!;
        (await _store.UpdateScheduleAsync(p with { Paused = true }, p.Version, setRemainingRuns: false, default)).Should().BeTrue();
        var wf = (await _store.GetScheduleAsync("wf", default))!;
        (await _store.UpdateScheduleAsync(wf with { Paused = true }, wf.Version, setRemainingRuns: false, default)).Should().BeTrue();
        (await _store.DeleteScheduleAsync("d", Now, default)).Should().BeTrue();

        var leases = await _store.ClaimAsync([occurrence.Id, triggered.Id, started.Id, ofDeleted.Id, implied.Id], Now.AddSeconds(1), s_lease, "node-b", default);
        leases.Select(l => l.Run.Id).Should().BeEquivalentTo([triggered.Id, started.Id], "a triggered run runs while paused, and a takeover finishes what had started");
        (await _store.GetAsync(occurrence.Id, default))!.Status.Should().Be(RunStatus.Pending);
        (await _store.GetAsync(implied.Id, default))!.Status.Should().Be(RunStatus.Pending);

        p = (await _store.GetScheduleAsync("p", default))!;
        (await _store.UpdateScheduleAsync(p with { Paused = false }, p.Version, setRemainingRuns: false, default)).Should().BeTrue();
        (await _store.ClaimAsync([occurrence.Id, implied.Id], Now.AddSeconds(2), s_lease, "node-b", default)).Select(l => l.Run.Id)
            .Should().Equal([occurrence.Id], "resumed, its occurrences are claimed; the other schedule is still paused");
    }

    /// <summary>Contract: runs keep their schedule and own overlap policy, in reads, due pages and claims; lists filter by schedule.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task Runs_KeepTheirSchedule_AndListsFilterByIt()
    {
        var occurrence = ScheduleRun("s", Now);
        var triggered = ScheduleRun("s", Now.AddSeconds(1), RunKind.Triggered) with { Overlap = OverlapPolicy.BufferAll };
        var other = ScheduleRun("t", Now);
        var oneTime = OneTime(Now);
        await _store.InsertAsync([occurrence, triggered, other, oneTime], default);

        var read = (await _store.GetAsync(triggered.Id, default))!;
        read.ScheduleId.Should().Be("s");
        read.Kind.Should().Be(RunKind.Triggered);
        read.Overlap.Should().Be(OverlapPolicy.BufferAll);
        read.IdempotencyKey.Should().Be(triggered.IdempotencyKey);
        (await _store.GetAsync(oneTime.Id, default))!.ScheduleId.Should().BeNull();

        var due = (await _store.GetDueAsync(Now.AddSeconds(1), 10, null, default)).Runs.ToDictionary(r => r.Id);
        due[triggered.Id].ScheduleId.Should().Be("s");
        due[triggered.Id].Overlap.Should().Be(OverlapPolicy.BufferAll);
        due[occurrence.Id].ScheduleId.Should().Be("s");
        due[occurrence.Id].Overlap.Should().BeNull();

        (await _store.ListAsync(new RunQuery { ScheduleId = "s" }, default)).Items.Select(r => r.Id).Should().Equal(occurrence.Id, triggered.Id);
        var lease = (await _store.ClaimAsync([triggered.Id], Now.AddSeconds(1), s_lease, "node-a", default)).Single();
        lease.Run.ScheduleId.Should().Be("s");
        lease.Run.Overlap.Should().Be(OverlapPolicy.BufferAll);
        (await _store.DeleteAsync(new RunQuery { ScheduleId = "t" }, default)).Should().Equal(other.Id);
    }

    /// <summary>Contract: a backfilled fire time shares its occurrence's key, so it is stored once whichever comes first.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ABackfilledFireTime_SharesItsOccurrencesKey()
    {
        var occurrence = ScheduleRun("s", Now);
        var backfill = ScheduleRun("s", Now, RunKind.Backfill);
        (await _store.InsertAsync([occurrence], default)).Single().Created.Should().BeTrue();
        var second = (await _store.InsertAsync([backfill], default)).Single();
        second.Created.Should().BeFalse();
        second.Run.Id.Should().Be(occurrence.Id);

        var later = ScheduleRun("s", Now.AddMinutes(1), RunKind.Backfill);
        (await _store.InsertAsync([later], default)).Single().Created.Should().BeTrue();
        (await _store.InsertAsync([ScheduleRun("s", Now.AddMinutes(1))], default)).Single().Run.Id.Should().Be(later.Id, "the occurrence finds the backfilled run under its key");
        (await _store.InsertAsync([ScheduleRun("t", Now)], default)).Single().Created.Should().BeTrue("another schedule's occurrence at the same instant is another run");
    }

    /// <summary>
    /// Contract: ClaimExclusiveAsync claims a run only while no other run of its schedule runs under a live lease; a run
    /// of another schedule, or of none, is claimed as usual; once the running one ends, the next is claimed.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimExclusiveAsync_WhileAnotherRunOfItsScheduleRuns_IsBusy_AndChangesNothing()
    {
        var a = ScheduleRun("s", Now);
        var b = ScheduleRun("s", Now.AddSeconds(1));
        var triggered = ScheduleRun("s", Now, RunKind.Triggered);
        var other = ScheduleRun("t", Now);
        var oneTime = OneTime(Now);
        var notDue = ScheduleRun("u", Now.AddMinutes(5));
        await _store.InsertAsync([a, b, triggered, other, oneTime, notDue], default);
        var first = (await _store.ClaimAsync([a.Id], Now, s_lease, "node-a", default)).Single();

        var busy = await _store.ClaimExclusiveAsync(b.Id, Now.AddSeconds(1), s_lease, "node-b", default);
        busy.Should().Be(ExclusiveClaim.ScheduleBusy);
        (await _store.ClaimExclusiveAsync(triggered.Id, Now.AddSeconds(1), s_lease, "node-b", default)).Busy.Should().BeTrue("a triggered run belongs to its schedule too");
        var untouched = await _store.GetAsync(b.Id, default);
        untouched!.Status.Should().Be(RunStatus.Pending);
        untouched.Attempt.Should().Be(0);

        (await _store.ClaimExclusiveAsync(other.Id, Now.AddSeconds(1), s_lease, "node-b", default)).Lease!.Value.Run.Id.Should().Be(other.Id);
        (await _store.ClaimExclusiveAsync(oneTime.Id, Now.AddSeconds(1), s_lease, "node-b", default)).Lease!.Value.Run.Id.Should().Be(oneTime.Id);
        (await _store.ClaimExclusiveAsync(notDue.Id, Now.AddSeconds(1), s_lease, "node-b", default)).Should().Be(ExclusiveClaim.NotClaimable);
        (await _store.ClaimExclusiveAsync(Guid.NewGuid(), Now.AddSeconds(1), s_lease, "node-b", default)).Should().Be(ExclusiveClaim.NotClaimable);

        (await _store.CompleteAsync([new RunCompletion(a.Id, first.Token, RunStatus.Succeeded, Now.AddSeconds(2)) { ScheduleId = "s" }], default)).Should().Equal(true);
        var won = await _store.ClaimExclusiveAsync(b.Id, Now.AddSeconds(2), s_lease, "node-b", default);
        won.Busy.Should().BeFalse();
        won.Lease!.Value.Run.Should().Match<ScheduledRun>(r => r.Id == b.Id && r.Status == RunStatus.Running && r.Attempt == 1);
        (await _store.ClaimExclusiveAsync(b.Id, Now.AddSeconds(2), s_lease, "node-c", default)).Should().Be(ExclusiveClaim.NotClaimable, "it runs itself: held by a live lease");
    }

    /// <summary>
    /// Contract: for ClaimExclusiveAsync a run whose lease expired is not running (its run may be taken over), and an
    /// occurrence stored without its schedule belongs to the schedule named after its workflow.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimExclusiveAsync_IgnoresExpiredLeases_AndKnowsAnOccurrencesImpliedSchedule()
    {
        var implied = ScheduleRun("s", Now) with { ScheduleId = null, IdempotencyKey = RunKeys.Occurrence("wf", Now) };
        var explicitOfWf = ScheduleRun("wf", Now.AddSeconds(1));
        var expiring = ScheduleRun("x", Now);
        var next = ScheduleRun("x", Now.AddSeconds(1));
        await _store.InsertAsync([implied, explicitOfWf, expiring, next], default);

        (await _store.ClaimAsync([implied.Id], Now, s_lease, "node-a", default)).Should().ContainSingle();
        (await _store.ClaimExclusiveAsync(explicitOfWf.Id, Now.AddSeconds(1), s_lease, "node-b", default)).Busy.Should().BeTrue("both are runs of schedule wf");

        (await _store.ClaimAsync([expiring.Id], Now, TimeSpan.Zero, "node-a", default)).Should().ContainSingle(); // its lease ends at once
        (await _store.ClaimExclusiveAsync(next.Id, Now.AddSeconds(1), s_lease, "node-b", default)).Lease.Should().NotBeNull("the other run's lease expired: it counts as running nowhere");
    }

    /// <summary>Contract: of claimers asking at once for different runs of one idle schedule, exactly one wins.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task ClaimExclusiveAsync_Concurrently_OneRunOfASchedule_Wins()
    {
        var runs = Enumerable.Range(0, 8).Select(i => ScheduleRun("s", Now.AddSeconds(-i))).ToList();
        await _store.InsertAsync(runs, default);
        var results = await Task.WhenAll(runs.Select(r => Task.Run(async () => await _store.ClaimExclusiveAsync(r.Id, Now, s_lease, "node-" + r.Id, default))));
        results.Count(r => r.Lease is not null).Should().Be(1);
        results.Count(r => r.Busy).Should().Be(7);
    }

    /// <summary>Contract: watermarks read and advanced together behave as one at a time: only forward, absent ones left out.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task Watermarks_ReadAndAdvancedTogether_OnlyMoveForward()
    {
        await _store.AdvanceWatermarkAsync("b", Now.AddHours(1), default);
        await _store.AdvanceWatermarksAsync([KeyValuePair.Create("a", Now), KeyValuePair.Create("b", Now), KeyValuePair.Create("c'; --", Now.AddMinutes(1)), KeyValuePair.Create("a", Now.AddSeconds(1))], default);
        var read = await _store.GetWatermarksAsync(["a", "b", "c'; --", "absent"], default);
        read.Should().BeEquivalentTo(new Dictionary<string, DateTimeOffset>
        {
            ["a"] = Now.AddSeconds(1),
            ["b"] = Now.AddHours(1),
            ["c'; --"] = Now.AddMinutes(1),
        });
        (await _store.GetWatermarkAsync("a", default)).Should().Be(Now.AddSeconds(1));
    }

    /// <summary>
    /// Contract: a spec's watermark (<see cref="WatermarkNames.OfSpec"/>) is kept only while that spec is its schedule's
    /// current one: advancing the watermark of another spec, of an absent or of a deleted schedule stores nothing; a
    /// change of spec deletes the old spec's, other updates keep it; deleting the schedule deletes it. Plain names are
    /// untouched by all of it.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task SpecWatermarks_AreKeptOnlyWhileTheirSpecIsTheSchedulesCurrentOne()
    {
        var schedule = Schedule("nightly");
        (await _store.CreateScheduleAsync(schedule, default)).Should().BeTrue();
        string current = WatermarkNames.OfSpec("nightly", Now);
        await _store.AdvanceWatermarksAsync(
        [
            KeyValuePair.Create(current, Now.AddHours(1)),
            KeyValuePair.Create(WatermarkNames.OfSpec("nightly", Now.AddMinutes(-1)), Now.AddHours(1)), // not its spec
            KeyValuePair.Create(WatermarkNames.OfSpec("absent", Now), Now.AddHours(1)),
            KeyValuePair.Create("nightly", Now.AddHours(2)), // a plain name
        ], default);
        (await _store.GetWatermarkAsync(current, default)).Should().Be(Now.AddHours(1));
        (await _store.GetWatermarkAsync(WatermarkNames.OfSpec("nightly", Now.AddMinutes(-1)), default)).Should().BeNull("not the schedule's spec");
        (await _store.GetWatermarkAsync(WatermarkNames.OfSpec("absent", Now), default)).Should().BeNull("no such schedule");

        // An update that keeps the spec keeps its watermark.
        var stored = (await _store.GetScheduleAsync("nightly", default))!;
        (await _store.UpdateScheduleAsync(stored with { Paused = true, Note = "quiet", UpdatedAt = Now.AddMinutes(1) }, stored.Version, false, default)).Should().BeTrue();
        (await _store.GetWatermarkAsync(current, default)).Should().Be(Now.AddHours(1), "the spec did not change");

        // A new spec: the old one's watermark is gone, and a late advance of it (a scheduler that has not seen the change) stores nothing.
        stored = (await _store.GetScheduleAsync("nightly", default))!;
        (await _store.UpdateScheduleAsync(stored with { SpecSince = Now.AddMinutes(2), UpdatedAt = Now.AddMinutes(2) }, stored.Version, false, default)).Should().BeTrue();
        string next = WatermarkNames.OfSpec("nightly", Now.AddMinutes(2));
        (await _store.GetWatermarkAsync(current, default)).Should().BeNull("the old spec's watermark went with it");
        await _store.AdvanceWatermarkAsync(current, Now.AddHours(3), default);
        (await _store.GetWatermarkAsync(current, default)).Should().BeNull("no longer the schedule's spec");
        (await _store.GetWatermarkAsync(next, default)).Should().BeNull("a new spec starts afresh");
        await _store.AdvanceWatermarkAsync(next, Now.AddHours(3), default);
        (await _store.GetWatermarksAsync([current, next, "nightly"], default)).Should().BeEquivalentTo(new Dictionary<string, DateTimeOffset>
        {
            [next] = Now.AddHours(3),
            ["nightly"] = Now.AddHours(2),
        });

        // An update refused (a stale version) deletes nothing.
        (await _store.UpdateScheduleAsync(stored with { SpecSince = Now.AddMinutes(9) }, stored.Version, false, default)).Should().BeFalse();
        (await _store.GetWatermarkAsync(next, default)).Should().Be(Now.AddHours(3));

        // Deleted: its watermark goes, and cannot come back; the id made again starts afresh.
        (await _store.DeleteScheduleAsync("nightly", Now.AddMinutes(3), default)).Should().BeTrue();
        (await _store.GetWatermarkAsync(next, default)).Should().BeNull("deleted with its schedule");
        await _store.AdvanceWatermarkAsync(next, Now.AddHours(4), default);
        (await _store.GetWatermarkAsync(next, default)).Should().BeNull("its schedule is deleted");
        (await _store.CreateScheduleAsync(Schedule("nightly") with { SpecSince = Now.AddMinutes(2) }, default)).Should().BeTrue();
        (await _store.GetWatermarkAsync(next, default)).Should().BeNull("a schedule made again starts afresh, even on the same instant");
        (await _store.GetWatermarkAsync("nightly", default)).Should().Be(Now.AddHours(2), "a plain name is no spec's");
    }

    /// <summary>A pending run of a schedule, keyed as the scheduler keys it.</summary>
    /// <param name="schedule">The schedule id.</param>
    /// <param name="at">Its instant.</param>
    /// <param name="kind">Occurrence, Triggered or Backfill.</param>
    /// <returns>The run.</returns>
    protected static ScheduledRun ScheduleRun(string schedule, DateTimeOffset at, RunKind kind = RunKind.Occurrence)
    {
        var id = Guid.NewGuid();
        return new ScheduledRun
        {
            Id = id,
            WorkflowName = "wf",
            ScheduleId = schedule,
            Kind = kind,
            IdempotencyKey = kind == RunKind.Triggered ? RunKeys.Triggered(schedule, null, id) : RunKeys.Occurrence(schedule, at),
            ScheduledTime = at,
            DueTime = at,
            Status = RunStatus.Pending,
            CreatedAt = Now,
        };
    }
}
