using Durable.Scheduling.Storage.InMemory;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

/// <summary>The in-memory store's large dictionaries grow a third at a time, so they stay mostly full.</summary>
[TestFixture]
public sealed class StepGrowthTests
{
    [Test]
    public void ADictionaryGrownStepByStep_StaysTwoThirdsFull_AndKeepsEveryEntry()
    {
        var dictionary = new Dictionary<Guid, int>();
        var ids = new List<Guid>();
        double emptiest = 1;
        for (int i = 0; i < 200_000; i++)
        {
            StepGrowth.MakeRoomForOne(dictionary);
            var id = Guid.NewGuid();
            dictionary.Add(id, i);
            ids.Add(id);
            if (dictionary.Count >= 2_048)
            {
                emptiest = Math.Min(emptiest, dictionary.Count / (double)dictionary.EnsureCapacity(0));
            }
        }

        emptiest.Should().BeGreaterThan(0.66, "a doubling dictionary is down to half full after each growth");
        ids.Select((id, i) => dictionary[id] == i).Should().AllBeEquivalentTo(true);
    }

    [Test]
    public void AfterRemovals_ItReusesTheFreedEntries_BeforeGrowing()
    {
        var dictionary = new Dictionary<int, int>();
        for (int i = 0; i < 5_000; i++)
        {
            StepGrowth.MakeRoomForOne(dictionary);
            dictionary.Add(i, i);
        }

        int capacity = dictionary.EnsureCapacity(0);
        for (int i = 0; i < 1_000; i++)
        {
            dictionary.Remove(i);
        }

        for (int i = 5_000; i < 6_000; i++)
        {
            StepGrowth.MakeRoomForOne(dictionary);
            dictionary.Add(i, i);
        }

        dictionary.EnsureCapacity(0).Should().Be(capacity, "the thousand freed entries took the thousand new ones");
        dictionary.Should().HaveCount(5_000);
    }
}
