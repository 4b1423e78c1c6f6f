using Durable.Scheduling.Engine.Concurrency;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine.Concurrency;

[TestFixture]
public sealed class BatchQueueTests
{
    [Test]
    public void TakeAll_ReturnsEverythingQueued_OldestFirst_ThenNothing()
    {
        var queue = new BatchQueue<int>();
        queue.IsEmpty.Should().BeTrue();
        queue.Enqueue(1);
        queue.EnqueueRange([2, 3]);
        queue.IsEmpty.Should().BeFalse();
        queue.TakeAll().Should().Equal(1, 2, 3);
        queue.IsEmpty.Should().BeTrue();
        queue.TakeAll().Should().BeEmpty();
        queue.Enqueue(4);
        queue.TakeAll().Should().Equal(4);
    }

    [Test]
    public async Task Enqueue_FromManyThreads_WhileTaken_LosesAndRepeatsNothing()
    {
        // The consumer swaps lists under the same lock the producers add under: every item is taken exactly once.
        var queue = new BatchQueue<int>();
        var taken = new List<int>();
        var producers = Enumerable.Range(0, 4).Select(p => Task.Run(() =>
        {
            for (int i = 0; i < 50_000; i++)
            {
                queue.Enqueue((p * 50_000) + i);
            }
        })).ToArray();
        while (!producers.All(t => t.IsCompleted) || !queue.IsEmpty)
        {
            taken.AddRange(queue.TakeAll());
            await Task.Yield();
        }

        await Task.WhenAll(producers);
        taken.AddRange(queue.TakeAll());
        taken.Order().Should().Equal(Enumerable.Range(0, 200_000));
        for (int p = 0; p < 4; p++)
        {
            taken.Where(i => i / 50_000 == p).Should().BeInAscendingOrder("each producer's items keep their order");
        }
    }
}
