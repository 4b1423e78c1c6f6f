using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Runs;

[TestFixture]
public sealed class RunIdComparerTests
{
    [Test]
    public void GetHashCode_OfIdsCreatedInTurn_IsConsecutive()
    {
        // Consecutive hashes put runs created one after another next to each other in a store's table.
        var now = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        var hashes = Enumerable.Range(0, 100).Select(_ => RunIdComparer.Instance.GetHashCode(RunIds.Next(now))).ToList();
        hashes.Zip(hashes.Skip(1), (a, b) => unchecked(b - a)).Should().OnlyContain(step => step == 1);
    }

    [Test]
    public void Equals_ComparesWholeIds_EvenWhenTheirHashesMatch()
    {
        var a = Guid.Parse("0192a6f0-0000-7000-8000-000000000001");
        var b = Guid.Parse("ffffffff-ffff-7fff-bfff-ffff00000001");
        RunIdComparer.Instance.GetHashCode(a).Should().Be(RunIdComparer.Instance.GetHashCode(b));
        RunIdComparer.Instance.Equals(a, b).Should().BeFalse();
        RunIdComparer.Instance.Equals(a, Guid.Parse(a.ToString())).Should().BeTrue();
    }

    [Test]
    public void Dictionary_WithCollidingHashes_KeepsEveryId()
    {
        var ids = Enumerable.Range(0, 50).Select(i => new Guid($"{i:x8}-0000-7000-8000-0000000000aa")).ToList();
        var table = new Dictionary<Guid, int>(RunIdComparer.Instance);
        ids.ForEach(id => table.Add(id, table.Count));
        ids.Select(id => table[id]).Should().Equal(Enumerable.Range(0, 50));
    }
}
