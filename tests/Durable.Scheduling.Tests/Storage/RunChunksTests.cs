using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

/// <summary>The in-memory store's ordered index, alone: its invariants under every insert and removal pattern.</summary>
[TestFixture]
public sealed class RunChunksTests
{
    [Test]
    public void RunKeys_OrderIdsExactlyAsGuidCompareTo_IncludingTheSameMillisecondsIds_AndEveryByteAtItsExtremes()
    {
        var random = new Random(11);
        var ids = new List<Guid> { Guid.Empty, Guid.AllBitsSet };
        var now = new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
        ids.AddRange(Enumerable.Range(0, 500).Select(_ => RunIds.Next(now))); // one millisecond: they differ in their last bytes
        ids.AddRange(Enumerable.Range(0, 500).Select(_ => Guid.NewGuid()));
        // Variants of one id, each with one or two bytes changed: their order is decided by exactly those bytes, so every
        // field and byte is compared against every other.
        var common = new byte[16];
        random.NextBytes(common);
        for (int position = 0; position < 16; position++)
        {
            foreach (byte value in new byte[] { 0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF })
            {
                var bytes = (byte[])common.Clone();
                bytes[position] = value;
                ids.Add(new Guid(bytes));
                bytes[(position + 5) % 16] = (byte)~value;
                ids.Add(new Guid(bytes));
            }
        }

        var disagreements = new List<string>();
        foreach (var x in ids)
        {
            foreach (var y in ids)
            {
                int expected = Math.Sign(x.CompareTo(y));
                if (Math.Sign(RunKey.CompareIds(x, y)) != expected || Math.Sign(new RunKey(5, x).CompareTo(new RunKey(5, y))) != expected)
                {
                    disagreements.Add($"{x} against {y}");
                }
            }
        }

        disagreements.Should().BeEmpty();

        new RunKey(4, Guid.AllBitsSet).CompareTo(new RunKey(5, Guid.Empty)).Should().BeNegative("the instant comes first");
    }

    [TestCase("ascending")]
    [TestCase("descending")]
    [TestCase("random")]
    [TestCase("before a few later ones")]
    [TestCase("one instant")]
    public void Inserts_KeepEveryEntryInOrder_InsideItsChunksRange_AndFindable(string pattern)
    {
        var chunks = new RunChunks();
        var random = new Random(7);
        var keys = pattern switch
        {
            "ascending" => Enumerable.Range(0, 5_000).Select(i => new RunKey(i, Guid.NewGuid())).ToList(),
            "descending" => Enumerable.Range(0, 5_000).Select(i => new RunKey(-i, Guid.NewGuid())).ToList(),
            "random" => Enumerable.Range(0, 5_000).Select(_ => new RunKey(random.Next(1_000), Guid.NewGuid())).ToList(),
            "before a few later ones" => [.. Enumerable.Range(0, 3).Select(i => new RunKey(1_000_000 + i, Guid.NewGuid())), .. Enumerable.Range(0, 5_000).Select(i => new RunKey(i, Guid.NewGuid()))],
            _ => Enumerable.Range(0, 5_000).Select(_ => new RunKey(42, Guid.NewGuid())).ToList(),
        };
        foreach (var key in keys)
        {
            chunks.Add(key);
        }

        Check(chunks, keys);
        if (pattern is "ascending" or "before a few later ones")
        {
            // Runs added in time order fill their chunks (the memory a pending run costs depends on it).
            chunks.Ordered.Count.Should().BeLessThanOrEqualTo((keys.Count / RunChunks.Capacity) + 3);
        }

        // Every key is found again by key alone (as the metadata index removes), and chunks left empty go.
        random.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(keys));
        foreach (var key in keys.Take(keys.Count - 100))
        {
            chunks.Remove(key).Should().BeTrue();
        }

        Check(chunks, keys.Skip(keys.Count - 100).ToList());
        chunks.Ordered.Count.Should().BeLessThanOrEqualTo(101);
        chunks.Remove(new RunKey(-1, Guid.NewGuid())).Should().BeFalse("a key never added is not there");
    }

    [Test]
    public void RemoveWhere_KeepsTheRestInOrder_AndDropIfEmpty_RemovesOnlyEmptyChunks()
    {
        var chunks = new RunChunks();
        var keys = Enumerable.Range(0, 1_000).Select(i => new RunKey(i, Guid.NewGuid())).ToList();
        keys.ForEach(k => chunks.Add(k));
        var doomed = keys.Where(k => k.Scheduled < 300 || k.Scheduled % 2 == 0).ToHashSet();
        foreach (var chunk in chunks.Ordered.ToList())
        {
            chunks.RemoveWhere(chunk, doomed.Contains);
        }

        foreach (var chunk in chunks.Ordered.ToList())
        {
            chunks.DropIfEmpty(chunk);
        }

        Check(chunks, keys.Where(k => !doomed.Contains(k)).ToList());
        chunks.Ordered.Skip(1).Should().OnlyContain(c => c.Count > 0);
    }

    private static void Check(RunChunks chunks, List<RunKey> expected)
    {
        var all = chunks.Ordered.SelectMany(c => c.Entries.Take(c.Count)).ToList();
        all.SequenceEqual(expected.Order()).Should().BeTrue("the chunks hold exactly the keys added and not removed, in order");
        chunks.Count.Should().Be(expected.Count);
        for (int i = 0; i < chunks.Ordered.Count; i++)
        {
            var chunk = chunks.Ordered[i];
            chunk.Count.Should().BeLessThanOrEqualTo(RunChunks.Capacity);
            chunk.Next.Should().BeSameAs(i + 1 < chunks.Ordered.Count ? chunks.Ordered[i + 1] : null);
            foreach (var key in chunk.Entries.Take(chunk.Count))
            {
                chunk.Covers(key).Should().BeTrue("every entry lies in its chunk's range");
                chunks.Ordered[chunks.Locate(key)].Should().BeSameAs(chunk, "a key is found in the chunk that holds it");
            }
        }
    }
}
