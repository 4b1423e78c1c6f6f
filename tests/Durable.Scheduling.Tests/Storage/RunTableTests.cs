using System.Runtime.CompilerServices;
using Durable.Scheduling.Storage.InMemory;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

/// <summary>The in-memory store's table of runs: slots that never move, found by id, reused once removed.</summary>
[TestFixture]
public sealed class RunTableTests
{
    [Test]
    public void ASlotsReference_StaysValid_WhileTheTableGrowsByThousands()
    {
        var table = new RunTable();
        var first = Guid.NewGuid();
        ref var held = ref table.Add(first, out bool exists);
        exists.Should().BeFalse();
        held.Scheduled = 42;
        var ids = Enumerable.Range(0, 50_000).Select(_ => Guid.NewGuid()).ToList();
        for (int i = 0; i < ids.Count; i++)
        {
            table.Add(ids[i], out _).Scheduled = i;
        }

        held.Scheduled = 43; // written through the reference taken before the table grew
        table[first].Scheduled.Should().Be(43);
        table.Count.Should().Be(50_001);
        ids.Select((id, i) => table[id].Scheduled == i).Should().AllBeEquivalentTo(true);
    }

    [Test]
    public void AddingAnIdThatIsThere_ReturnsItsSlotUnchanged()
    {
        var table = new RunTable();
        var id = Guid.NewGuid();
        table.Add(id, out _).Due = 7;

        ref var again = ref table.Add(id, out bool exists);

        exists.Should().BeTrue();
        again.Due.Should().Be(7);
        table.Count.Should().Be(1);
    }

    [Test]
    public void ARemovedRun_IsNotFound_AndItsSlotIsClearedForTheNextRun()
    {
        var table = new RunTable();
        var gone = Guid.NewGuid();
        table.Add(gone, out _).Due = 99;
        table.Remove(gone).Should().BeTrue();
        table.Remove(gone).Should().BeFalse();

        Unsafe.IsNullRef(ref table.Find(gone)).Should().BeTrue();
        table.TryGetValue(gone, out _).Should().BeFalse();
        FluentActions.Invoking(() => table[gone]).Should().Throw<KeyNotFoundException>();
        var next = Guid.NewGuid();
        table.Add(next, out _).Due.Should().Be(0, "the reused slot starts empty");
        table.Count.Should().Be(1);
    }
}
