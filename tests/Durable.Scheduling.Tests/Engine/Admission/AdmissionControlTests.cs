using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Cron;
using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Timing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine.Admission;

/// <summary>Admission decided directly, without a loop, a store or a clock: slots and each overlap policy.</summary>
[TestFixture]
public sealed class AdmissionControlTests
{
    private const long Now = 1_000_000_000;
    private readonly List<string> _cancelled = [];

    [Test]
    public void BeyondMaxConcurrency_RunsWaitInOrder_AndAreAdmittedAsSlotsFree()
    {
        var (admission, slots) = Build(maxConcurrency: 2);
        var due = Nodes("once", RunKind.OneTime, Now, Now, Now);
        admission.AdmitDue(Now, due);
        admission.ToClaim.Select(c => c.Id).Should().Equal(due0(), due1());
        slots.Active.Should().Be(2);
        admission.HasWaiting.Should().BeTrue();
        slots.Wanted.Should().BeTrue("a freed slot must wake the loop");
        due.Should().BeEmpty();

        slots.Free();
        admission.AdmitDue(Now, []);
        admission.ToClaim.Select(c => c.Id).Should().Equal(_ids[2]);
        admission.HasWaiting.Should().BeFalse();
        slots.Wanted.Should().BeFalse();

        Guid due0() => _ids[0];
        Guid due1() => _ids[1];
    }

    [Test]
    public void DueOutOfOrder_IsAdmittedInDueOrder()
    {
        var (admission, _) = Build();
        admission.AdmitDue(Now, Nodes("once", RunKind.OneTime, Now, Now - 10, Now - 5));
        admission.ToClaim.Select(c => c.DueTicks).Should().Equal(Now - 10, Now - 5, Now);
    }

    [Test]
    public void Skip_WhileAnEarlierRunIsActive_SkipsTheOccurrence()
    {
        var (admission, slots) = Build(policy: OverlapPolicy.Skip);
        admission.AdmitDue(Now, Nodes("cron", RunKind.Occurrence, Now));
        admission.ToClaim.Should().ContainSingle();
        admission.AdmitDue(Now + 1, Nodes("cron", RunKind.Occurrence, Now + 1));
        admission.ToClaim.Should().BeEmpty();
        admission.ToSkip.Should().ContainSingle().Which.DueTicks.Should().Be(Now + 1);
        slots.Active.Should().Be(1, "a skipped occurrence takes no slot");
    }

    [Test]
    public void BufferOne_KeepsOne_SkipsTheRest_AndStartsItWhenTheActiveRunEnds()
    {
        var (admission, _) = Build(policy: OverlapPolicy.BufferOne);
        admission.AdmitDue(Now, Nodes("cron", RunKind.Occurrence, Now));
        admission.AdmitDue(Now + 2, Nodes("cron", RunKind.Occurrence, Now + 1, Now + 2));
        admission.ToClaim.Should().BeEmpty();
        admission.ToSkip.Select(n => n.DueTicks).Should().Equal(Now + 2);

        var released = new List<WheelNode>();
        admission.OccurrenceEnded("cron", released);
        released.Select(n => n.DueTicks).Should().Equal(Now + 1);
    }

    [Test]
    public void BufferAll_KeepsEvery_AndReleasesOnePerEnd_InOrder()
    {
        var (admission, _) = Build(policy: OverlapPolicy.BufferAll);
        admission.AdmitDue(Now, Nodes("cron", RunKind.Occurrence, Now));
        admission.AdmitDue(Now + 3, Nodes("cron", RunKind.Occurrence, Now + 1, Now + 2, Now + 3));
        admission.ToSkip.Should().BeEmpty();

        var released = new List<WheelNode>();
        admission.OccurrenceEnded("cron", released);
        released.Select(n => n.DueTicks).Should().Equal(Now + 1);
        admission.AdmitDue(Now + 3, released);
        admission.ToClaim.Should().ContainSingle().Which.DueTicks.Should().Be(Now + 1);
        admission.OccurrenceEnded("cron", released);
        released.Select(n => n.DueTicks).Should().Equal(Now + 2);
    }

    [Test]
    public void CancelOther_CancelsTheRunning_AndKeepsOnlyTheNewest()
    {
        var (admission, _) = Build(policy: OverlapPolicy.CancelOther);
        admission.AdmitDue(Now, Nodes("cron", RunKind.Occurrence, Now));
        admission.AdmitDue(Now + 1, Nodes("cron", RunKind.Occurrence, Now + 1));
        _cancelled.Should().Equal("cron");
        admission.AdmitDue(Now + 2, Nodes("cron", RunKind.Occurrence, Now + 2));
        admission.ToSkip.Select(n => n.DueTicks).Should().Equal([Now + 1], "the older buffered occurrence gives way to the newer");

        var released = new List<WheelNode>();
        admission.OccurrenceEnded("cron", released);
        released.Select(n => n.DueTicks).Should().Equal(Now + 2);
    }

    [Test]
    public void OccurrenceWithAPolicy_DueWithinThePreClaimWindow_IsHeldUntilItsInstant()
    {
        var (admission, slots) = Build(policy: OverlapPolicy.Skip);
        admission.AdmitDue(Now, Nodes("cron", RunKind.Occurrence, Now + 5));
        admission.ToClaim.Should().BeEmpty("what still runs at its instant decides");
        admission.NextHeldTicks().Should().Be(Now + 5);
        slots.Active.Should().Be(0);

        var due = new List<WheelNode>();
        admission.ReleaseHeld(Now + 4, due);
        due.Should().BeEmpty();
        admission.ReleaseHeld(Now + 5, due);
        due.Should().ContainSingle();
        admission.NextHeldTicks().Should().Be(long.MaxValue);
    }

    [Test]
    public void OneTimeRunDueWithinThePreClaimWindow_IsClaimedAhead()
    {
        var (admission, _) = Build(policy: OverlapPolicy.Skip);
        admission.AdmitDue(Now, Nodes("once", RunKind.OneTime, Now + 5));
        admission.ToClaim.Should().ContainSingle().Which.DueTicks.Should().Be(Now + 5);
    }

    [Test]
    public void UnknownWorkflow_IsLeftPending_AndTakesNoSlot()
    {
        var (admission, slots) = Build();
        admission.AdmitDue(Now, Nodes("removed-from-code", RunKind.OneTime, Now));
        admission.EnqueueDueNow(Guid.NewGuid(), Now, "removed-from-code");
        admission.AdmitDue(Now, []);
        admission.ToClaim.Should().BeEmpty();
        slots.Active.Should().Be(0);
        admission.HasWaiting.Should().BeFalse();
    }

    private readonly List<Guid> _ids = [];

    private List<WheelNode> Nodes(string workflow, RunKind kind, params long[] dues) =>
        dues.Select(d =>
        {
            var id = Durable.Scheduling.Storage.RunIds.Next(DateTimeOffset.UnixEpoch); // ordered as made, as the scheduler's ids are
            _ids.Add(id);
            return new WheelNode(id, d, workflow, kind, kind == RunKind.Occurrence ? workflow : null, null);
        }).ToList();

    private (AdmissionControl Admission, ConcurrencySlots Slots) Build(int maxConcurrency = 64, OverlapPolicy policy = OverlapPolicy.AllowAll)
    {
        var workflows = new[] { Descriptor("once", null), Descriptor("cron", policy) };
        var slots = new ConcurrencySlots(maxConcurrency, batchWakes: false);
        WorkflowDescriptor? Find(string name) => workflows.FirstOrDefault(w => w.Name == name);
        var book = new ScheduleBook(new InMemorySchedulingStore(), Find, new HashSet<string> { "cron" }, NullLogger.Instance);
        book.Apply(new StoredSchedule
        {
            Id = "cron",
            WorkflowName = "cron",
            Definition = new ScheduleDocument { Spec = ScheduleSpec.FromCron("* * * * * *"), Overlap = policy }.ToJson(),
            CodeDefined = true,
            Sequence = 1,
        }, fromStore: true);
        var admission = new AdmissionControl(slots, book, Find, _cancelled.Add, NullLogger.Instance);
        return (admission, slots);
    }

    private static WorkflowDescriptor Descriptor(string name, OverlapPolicy? overlap)
    {
        var method = typeof(AdmissionControlTests).GetMethod(nameof(Handler), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        return new WorkflowDescriptor
        {
            Name = name,
            Method = method,
            Invoker = WorkflowInvoker.TryCreate(method, new NoServices(), out _)!,
            MaxAttempts = 1,
            Schedule = overlap is { } policy ? new RecurringSchedule(ScheduleSpec.FromCron("* * * * * *"), CatchUpPolicy.ExactlyOncePerInterval, policy, IsInterval: false) : null,
        };
    }

    private static Task Handler(CancellationToken cancellationToken) => Task.CompletedTask;

    private sealed class NoServices : IServiceProviderIsService
    {
        public bool IsService(Type serviceType) => false;
    }
}
