using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// The loop's book of schedules alone: which states it takes in (a change told by this process and then read from the
/// store is one state, taken once), and when it uses the definition the caller compiled instead of reading the JSON.
/// </summary>
[TestFixture]
public sealed class ScheduleBookTests
{
    private static readonly long Now = new DateTimeOffset(2027, 3, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    [Test]
    public void Apply_TakesEachStateOnce_AndNeverAnOlderOne()
    {
        var book = NewBook();
        var first = Stored("s", "0 * * * * *", sequence: 5);

        book.Apply(first, fromStore: false, Now).Should().BeGreaterThan(Now, "a new schedule: its next fire time");
        var planned = book.Find("s")!;
        planned.Sequence.Should().Be(5);

        book.Apply(first, fromStore: true, Now).Should().Be(long.MaxValue, "the same state read back from the store");
        book.Find("s").Should().BeSameAs(planned, "kept, with what the loop learnt of it");

        book.Apply(Stored("s", "30 * * * * *", sequence: 4), fromStore: true, Now).Should().Be(long.MaxValue);
        book.Find("s").Should().BeSameAs(planned, "an older state is ignored");

        book.Apply(Stored("s", "30 * * * * *", sequence: 6), fromStore: true, Now);
        book.Find("s")!.Sequence.Should().Be(6);
        book.Find("s")!.Spec.NextUtc(Now).Should().Be(Now + (30 * TimeSpan.TicksPerSecond), "the newer state's spec");
    }

    [Test]
    public void Apply_AfterADelete_TakesNoOlderStateOfTheSameId_ButANewerOne()
    {
        var book = NewBook();
        book.Apply(Stored("s", "0 * * * * *", sequence: 1), fromStore: true, Now);
        book.Apply(Stored("s", "0 * * * * *", sequence: 2) with { Deleted = true }, fromStore: false, Now);
        book.Find("s").Should().BeNull();

        book.Apply(Stored("s", "0 * * * * *", sequence: 1), fromStore: true, Now);
        book.Find("s").Should().BeNull("the state before the delete, read late, does not bring it back");

        book.Apply(Stored("s", "0 * * * * *", sequence: 3), fromStore: true, Now);
        book.Find("s").Should().NotBeNull("created again after the delete");
    }

    [Test]
    public void Apply_UsesTheCallersCompiledDefinition_OnlyWhenItIsTheStoredOne()
    {
        var book = NewBook();
        var mine = new ScheduleDocument { Spec = ScheduleSpec.FromCron("0 * * * * *") };
        var compiled = new CompiledDefinition(mine.ToJson(), mine, CompiledSpec.Compile(mine.Spec));

        book.Apply(Stored("a", "0 * * * * *", sequence: 1), fromStore: false, Now, compiled);
        book.Find("a")!.Spec.Should().BeSameAs(compiled.Spec, "the stored definition is the one compiled");

        // Another writer changed the schedule between this caller's write and its read-back: the stored JSON wins.
        book.Apply(Stored("b", "15 * * * * *", sequence: 2), fromStore: false, Now, compiled);
        book.Find("b")!.Spec.Should().NotBeSameAs(compiled.Spec);
        book.Find("b")!.Spec.NextUtc(Now).Should().Be(Now + (15 * TimeSpan.TicksPerSecond));
    }

    [Test]
    public void Apply_KeepsTheDefinitionsPoliciesAndWindow_AndSetsAsideOneWithAPolicyItDoesNotKnow()
    {
        var book = NewBook();
        var document = new ScheduleDocument
        {
            Spec = ScheduleSpec.FromCron("0 * * * * *"),
            CatchUp = CatchUpPolicy.Latest,
            CatchUpWindow = TimeSpan.FromMinutes(90),
            Overlap = OverlapPolicy.CancelOther,
        };
        book.Apply(Stored("s", "0 * * * * *", sequence: 1) with { Definition = document.ToJson() }, fromStore: true, Now);
        var planned = book.Find("s")!;
        planned.CatchUp.Should().Be(CatchUpPolicy.Latest);
        planned.CatchUpWindow.Should().Be(TimeSpan.FromMinutes(90));
        planned.Overlap.Should().Be(OverlapPolicy.CancelOther);
        book.Apply(Stored("d", "0 * * * * *", sequence: 2), fromStore: true, Now);
        book.Find("d")!.CatchUpWindow.Should().BeNull("no window of its own: the options' applies");

        // Written by a newer version with a policy this one does not have: not run under a policy it cannot honour.
        string newer = document.ToJson().Replace("\"Overlap\":\"CancelOther\"", "\"Overlap\":99", StringComparison.Ordinal);
        newer.Should().Contain("99", "the test edits the stored policy");
        book.Apply(Stored("n", "0 * * * * *", sequence: 3) with { Definition = newer }, fromStore: true, Now).Should().Be(long.MaxValue);
        book.Find("n").Should().BeNull();
    }

    private static ScheduleBook NewBook()
    {
        var method = typeof(ScheduleBookTests).GetMethod(nameof(Handler), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var workflow = new WorkflowDescriptor { Name = "w", Method = method, Invoker = WorkflowInvoker.TryCreate(method, new NoServices(), out _)!, MaxAttempts = 1 };
        return new ScheduleBook(new InMemorySchedulingStore(), name => name == "w" ? workflow : null, new HashSet<string>(), NullLogger.Instance);
    }

    private static StoredSchedule Stored(string id, string cron, long sequence) => new()
    {
        Id = id,
        WorkflowName = "w",
        Definition = new ScheduleDocument { Spec = ScheduleSpec.FromCron(cron) }.ToJson(),
        Sequence = sequence,
        Version = sequence,
    };

    private static Task Handler(CancellationToken cancellationToken) => Task.CompletedTask;

    private sealed class NoServices : IServiceProviderIsService
    {
        public bool IsService(Type serviceType) => false;
    }
}
