using Durable.Scheduling.Storage.InMemory;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

/// <summary>The in-memory store's schedule ids in order: chunked, and read from any point.</summary>
[TestFixture]
public sealed class SortedIdsTests
{
    [Test]
    public void RandomAddsAndRemoves_KeepOrdinalOrder_LikeASortedSet()
    {
        var random = new Random(7);
        var ids = new SortedIds();
        var model = new SortedSet<string>(StringComparer.Ordinal);
        for (int step = 0; step < 20_000; step++)
        {
            // Ids of mixed case and length, so ordinal order differs from the culture's and from numeric order.
            string id = (random.Next(3) switch { 0 => "a", 1 => "B", _ => "b" }) + random.Next(3_000);
            if (random.Next(3) == 0)
            {
                ids.Remove(id).Should().Be(model.Remove(id));
            }
            else
            {
                ids.Add(id).Should().Be(model.Add(id));
            }
        }

        ids.Count.Should().Be(model.Count);
        model.Count.Should().BeGreaterThan(3 * SortedIds.ChunkSize, "the ids span many chunks");
        ids.From(null, null).Should().Equal(model);
    }

    [Test]
    public void From_StartsAfterAnyId_PresentOrNot_AndAtALowerBound()
    {
        var ids = new SortedIds();
        var all = Enumerable.Range(0, 1_000).Select(i => $"s{i:D4}").ToList();
        foreach (string id in all.AsEnumerable().Reverse())
        {
            ids.Add(id);
        }

        ids.From("s0499", null).Should().Equal(all.Skip(500));
        ids.From("s0499x", null).Should().Equal(all.Skip(500), "a continuation may name an id deleted since");
        ids.From("a", null).Should().Equal(all);
        ids.From("t", null).Should().BeEmpty();
        ids.From(null, "s0990").Should().Equal(all.Skip(990), "the lower bound is inclusive");
        ids.From("s0100", "s0990").Should().Equal(all.Skip(990), "the later bound wins");
        ids.From("s0995", "s0990").Should().Equal(all.Skip(996));
        ids.From("s0990", "s0990").Should().Equal(all.Skip(991), "past an id equal to the bound: exclusive");
        foreach (string id in all.Take(998))
        {
            ids.Remove(id).Should().BeTrue();
        }

        ids.From(null, null).Should().Equal("s0998", "s0999");
        ids.From("s0001", null).Should().Equal(["s0998", "s0999"], "emptied chunks are gone");
    }
}
