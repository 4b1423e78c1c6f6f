using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

// Inserting runs: idempotency keys, concurrency, every field round-trips.
public abstract partial class SchedulingStoreConformanceTests
{
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

    /// <summary>
    /// Contract: InsertAsync: keeps the longest idempotency keys the scheduler lets through (a 200-character name or
    /// schedule id and a <see cref="SchedulingLimits.MaxIdempotencyKeyLength"/>-character key of three-byte characters),
    /// and accepts each once.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task InsertAsync_KeepsTheLongestKeysTheSchedulerAllows_AndAcceptsEachOnce()
    {
        string key = new('€', SchedulingLimits.MaxIdempotencyKeyLength);
        var oneTime = OneTime(Now, workflow: new string('w', SchedulingLimits.MaxNameLength), key: key);
        var id = Guid.NewGuid();
        string schedule = new('é', SchedulingLimits.MaxNameLength);
        var triggered = new ScheduledRun
        {
            Id = id, WorkflowName = "wf", ScheduleId = schedule, Kind = RunKind.Triggered, IdempotencyKey = RunKeys.Triggered(schedule, key, id),
            ScheduledTime = Now, DueTime = Now, Status = RunStatus.Pending, CreatedAt = Now,
        };
        (await _store.InsertAsync([oneTime, triggered], default)).Select(r => r.Created).Should().Equal(true, true);
        (await _store.GetAsync(oneTime.Id, default))!.IdempotencyKey.Should().Be(oneTime.IdempotencyKey);
        (await _store.GetAsync(triggered.Id, default))!.IdempotencyKey.Should().Be(triggered.IdempotencyKey);

        var again = OneTime(Now.AddHours(1), workflow: oneTime.WorkflowName, key: key);
        var second = (await _store.InsertAsync([again], default)).Single();
        second.Created.Should().BeFalse();
        second.Run.Id.Should().Be(oneTime.Id);
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

    /// <summary>
    /// Contract: text holding U+0000, short or long, is kept whole: keys and metadata values that differ only after it
    /// stay apart (distinct runs, exact filters), and error messages and notes keep what follows it.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task TextHoldingNul_IsKeptWhole_AndStaysApartFromTextThatDiffersOnlyAfterIt()
    {
        foreach (string prefix in new[] { "k\0", new string('k', 600) + "\0" })
        {
            var a = OneTime(Now, workflow: "nul", key: prefix + "a", metadata: new Dictionary<string, string> { ["tag"] = prefix + "x" });
            var b = OneTime(Now.AddSeconds(1), workflow: "nul", key: prefix + "b", metadata: new Dictionary<string, string> { ["tag"] = prefix + "y" });
            (await _store.InsertAsync([a, b], default)).Should().OnlyContain(r => r.Created, "the keys differ after the U+0000");
            var again = (await _store.InsertAsync([OneTime(Now, workflow: "nul", key: prefix + "a")], default)).Single();
            again.Created.Should().BeFalse();
            again.Run.Id.Should().Be(a.Id);
            var stored = (await _store.GetAsync(b.Id, default))!;
            stored.IdempotencyKey.Should().Be(b.IdempotencyKey);
            stored.Metadata["tag"].Should().Be(prefix + "y");
            var listed = await _store.ListAsync(new RunQuery { Metadata = new Dictionary<string, string> { ["tag"] = prefix + "x" } }, default);
            listed.Items.Select(r => r.Id).Should().Equal([a.Id], "a filter matches the whole value");
            var lease = (await _store.ClaimAsync([a.Id], Now, s_lease, "node-a", default)).Single();
            (await _store.CompleteAsync([new RunCompletion(a.Id, lease.Token, RunStatus.Failed, Now, new RunError("E\0rror", prefix + "message"))], default)).Should().Equal(true);
            var failed = (await _store.GetAsync(a.Id, default))!;
            failed.Error.Should().Be(new RunError("E\0rror", prefix + "message"));
            var retried = (await _store.ClaimAsync([b.Id], Now.AddSeconds(1), s_lease, "node-a", default)).Single();
            (await _store.ReleaseAsync(b.Id, retried.Token, Now.AddMinutes(1), new RunError("Retry", prefix + "again"), default)).Should().BeTrue();
            (await _store.GetAsync(b.Id, default))!.Error.Should().Be(new RunError("Retry", prefix + "again"));
            await _store.DeleteAsync(new RunQuery { WorkflowName = "nul" }, default);
            string id = "nul-" + prefix.Length;
            (await _store.CreateScheduleAsync(new StoredSchedule { Id = id, WorkflowName = "nul", Definition = "{}", Note = prefix + "note", CreatedAt = Now, UpdatedAt = Now, SpecSince = Now }, default)).Should().BeTrue();
            (await _store.GetScheduleAsync(id, default))!.Note.Should().Be(prefix + "note");
        }
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
}
