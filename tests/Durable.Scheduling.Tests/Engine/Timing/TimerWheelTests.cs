using Durable.Scheduling.Engine.Timing;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine.Timing;

[TestFixture]
public sealed class TimerWheelTests
{
    private const long Start = 638_000_000_000_000_000;

    [Test]
    public void Advance_HandsOutEveryNodeAtOrAfterItsExactInstant_NeverBefore()
    {
        var random = new Random(11);
        var wheel = new TimerWheel(Start);
        // Spread over every level: milliseconds, seconds, minutes, hours and beyond the top level (20 days).
        var nodes = Enumerable.Range(0, 5000).Select(i =>
        {
            long span = (i % 5) switch { 0 => TimeSpan.TicksPerMillisecond * 60, 1 => TimeSpan.TicksPerSecond * 4, 2 => TimeSpan.TicksPerMinute * 4, 3 => TimeSpan.TicksPerHour * 4, _ => TimeSpan.TicksPerDay * 20 };
            return new WheelNode(Guid.NewGuid(), Start + 1 + (long)(random.NextDouble() * span), "w", RunKind.OneTime, null, null);
        }).ToList();
        nodes.ForEach(wheel.Add);
        wheel.Count.Should().Be(5000);

        var handed = new List<(WheelNode Node, long At)>();
        var due = new List<WheelNode>();
        long now = Start;
        while (wheel.Count > 0)
        {
            long next = wheel.NextDueTicks();
            next.Should().BeGreaterThan(now);
            now = next; // jump straight to the next instant, as the scheduler loop does
            wheel.Advance(now, due);
            due.Should().NotBeEmpty("the earliest node is due at the instant NextDueTicks reported");
            handed.AddRange(due.Select(n => (n, now)));
            due.Clear();
        }

        handed.Should().HaveCount(5000);
        handed.Should().OnlyContain(h => h.Node.DueTicks == h.At, "each node is handed out at exactly its instant");
    }

    [TestCase(0L)]
    [TestCase(TimeSpan.TicksPerMillisecond * 30)]
    [TestCase(TimeSpan.TicksPerSecond * 3)]
    [TestCase(TimeSpan.TicksPerMinute * 3)]
    [TestCase(TimeSpan.TicksPerDay * 20)]
    public void NodesDueAtTheSameInstant_AreHandedOutInTheOrderTheyWereAdded_ThroughEveryCascade(long ahead)
    {
        var wheel = new TimerWheel(Start);
        var nodes = Enumerable.Range(0, 10).Select(i => new WheelNode(Guid.NewGuid(), Start + ahead, "w", RunKind.Triggered, "s", null)).ToList();
        nodes.ForEach(wheel.Add);
        wheel.Remove(nodes[0]);
        wheel.Remove(nodes[9]);
        wheel.Remove(nodes[4]);
        wheel.Add(nodes[4]); // filed again: now the last

        var due = new List<WheelNode>();
        for (long now = Start; wheel.Count > 0; now = Math.Max(now + 1, wheel.NextDueTicks()))
        {
            wheel.Advance(now, due);
        }

        due.Should().Equal(new[] { 1, 2, 3, 5, 6, 7, 8, 4 }.Select(i => nodes[i]));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void RandomInsertsCancelsAndAdvances_AgreeWithASortedReference(int seed)
    {
        // Nodes are added as time moves, so a node filed long ago at a high level can be due before one filed lately
        // at a low level: the next-due answer must still be the true earliest (a run must never hide in the wheel).
        var random = new Random(seed);
        var wheel = new TimerWheel(Start);
        var reference = new SortedSet<(long Due, Guid Id)>();
        var live = new Dictionary<Guid, WheelNode>();
        var due = new List<WheelNode>();
        long now = Start;
        long[] spans = [TimeSpan.TicksPerMillisecond * 80, TimeSpan.TicksPerSecond * 70, TimeSpan.TicksPerMinute * 70, TimeSpan.TicksPerHour * 5, TimeSpan.TicksPerDay * 15];
        for (int step = 0; step < 20_000; step++)
        {
            switch (random.Next(10))
            {
                case < 5:
                    var node = new WheelNode(Guid.NewGuid(), now + 1 + (long)(random.NextDouble() * spans[random.Next(spans.Length)]), "w", RunKind.OneTime, null, null);
                    wheel.Add(node);
                    reference.Add((node.DueTicks, node.Id));
                    live[node.Id] = node;
                    break;
                case < 6 when live.Count > 0:
                    var victim = live.Values.ElementAt(random.Next(live.Count));
                    wheel.Remove(victim).Should().BeTrue();
                    reference.Remove((victim.DueTicks, victim.Id));
                    live.Remove(victim.Id);
                    break;
                default:
                    // Advance either to the reported next instant (as the loop does) or by a random step (a poll).
                    long next = wheel.NextDueTicks();
                    next.Should().Be(reference.Count == 0 ? long.MaxValue : reference.Min.Due, "step {0}: the wheel's next-due answer is the true earliest", step);
                    now = random.Next(2) == 0 && next != long.MaxValue ? next : now + (long)(random.NextDouble() * spans[random.Next(3)]);
                    wheel.Advance(now, due);
                    var expected = reference.TakeWhile(r => r.Due <= now).ToList();
                    due.Select(n => (n.DueTicks, n.Id)).Should().BeEquivalentTo(expected, "step {0}: exactly the nodes due by now are handed out", step);
                    foreach (var handed in expected)
                    {
                        reference.Remove(handed);
                        live.Remove(handed.Id);
                    }

                    due.Clear();
                    break;
            }

            wheel.Count.Should().Be(reference.Count);
        }
    }

    [Test]
    public void Remove_CancelsInConstantTime_AndIsIdempotent()
    {
        var wheel = new TimerWheel(Start);
        var keep = new WheelNode(Guid.NewGuid(), Start + TimeSpan.TicksPerSecond, "w", RunKind.OneTime, null, null);
        var cancel = new WheelNode(Guid.NewGuid(), Start + TimeSpan.TicksPerSecond, "w", RunKind.OneTime, null, null);
        wheel.Add(keep);
        wheel.Add(cancel);
        wheel.Remove(cancel).Should().BeTrue();
        wheel.Remove(cancel).Should().BeFalse();
        var due = new List<WheelNode>();
        wheel.Advance(Start + TimeSpan.TicksPerMinute, due);
        due.Should().Equal(keep);
        wheel.Count.Should().Be(0);
    }

    [Test]
    public void Advance_AfterClockJumpBack_DoesNotFireEarly()
    {
        var wheel = new TimerWheel(Start);
        var node = new WheelNode(Guid.NewGuid(), Start + TimeSpan.TicksPerMinute, "w", RunKind.OneTime, null, null);
        wheel.Add(node);
        var due = new List<WheelNode>();
        wheel.Advance(Start + (TimeSpan.TicksPerSecond * 30), due);
        wheel.Advance(Start - TimeSpan.TicksPerHour, due); // the clock jumped back an hour
        due.Should().BeEmpty();
        wheel.Advance(Start + TimeSpan.TicksPerMinute - 1, due);
        due.Should().BeEmpty();
        wheel.Advance(Start + TimeSpan.TicksPerMinute, due);
        due.Should().Equal(node);
    }

    [Test]
    public void Add_WhenAlreadyDue_IsHandedOutOnNextAdvance()
    {
        var wheel = new TimerWheel(Start);
        var late = new WheelNode(Guid.NewGuid(), Start - TimeSpan.TicksPerDay, "w", RunKind.OneTime, null, null);
        wheel.Add(late);
        wheel.NextDueTicks().Should().Be(late.DueTicks);
        var due = new List<WheelNode>();
        wheel.Advance(Start, due);
        due.Should().Equal(late);
    }
}
