using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

/// <summary>
/// The in-memory store's schedule table alone: its change log (read by every loop at every feed) against a plain model
/// of what the changes since any sequence are, under creates, updates, deletes, re-creates and purges.
/// </summary>
[TestFixture]
public sealed class InMemorySchedulesTests
{
    [Test]
    public void ChangesAfter_AgreesWithAModelOfEverySchedule_AfterEveryKindOfChange()
    {
        var schedules = new InMemorySchedules();
        var random = new Random(11);
        var at = DateTimeOffset.UnixEpoch;
        var ids = Enumerable.Range(0, 60).Select(i => "s" + i).ToArray();
        var model = new Dictionary<string, (long Sequence, bool Deleted, long DeletedAt)>(); // what the table holds, by id
        long sequence = 0; // every create, update and delete takes the next
        for (int step = 0; step < 3_000; step++)
        {
            string id = ids[random.Next(ids.Length)];
            var current = schedules.Get(id);
            switch (random.Next(10))
            {
                case < 4:
                    bool created = schedules.Create(New(id, step));
                    created.Should().Be(current is null);
                    if (created)
                    {
                        model[id] = (++sequence, false, 0);
                    }

                    break;
                case < 7 when current is not null:
                    schedules.Update(current with { Note = "n" + step }, current.Version, setRemaining: false).Should().BeTrue();
                    schedules.Update(current with { Note = "stale" }, current.Version, setRemaining: false).Should().BeFalse();
                    model[id] = (++sequence, false, 0);
                    break;
                case < 9 when current is not null:
                    schedules.Delete(id, at.AddSeconds(step)).Should().BeTrue();
                    model[id] = (++sequence, true, at.AddSeconds(step).UtcTicks);
                    break;
                case 9:
                    long before = at.AddSeconds(step - random.Next(200)).UtcTicks;
                    schedules.PurgeDeleted(before);
                    foreach (var gone in model.Where(p => p.Value.Deleted && p.Value.DeletedAt < before && p.Value.Sequence < sequence).Select(p => p.Key).ToList())
                    {
                        model.Remove(gone);
                    }

                    break;
            }

            if (step % 50 == 0)
            {
                Check(schedules, model, random);
            }
        }

        Check(schedules, model, random);
    }

    [Test]
    public void ChangesAfter_PagesInSequenceOrder_EachScheduleOnceAtItsLatestState()
    {
        var schedules = new InMemorySchedules();
        for (int i = 0; i < 10; i++)
        {
            schedules.Create(New("s" + i, i));
        }

        var first = schedules.Get("s3")!;
        schedules.Update(first with { Note = "changed" }, first.Version, setRemaining: false);
        schedules.Delete("s5", DateTimeOffset.UnixEpoch);

        var all = schedules.ChangesAfter(0, 100);
        all.Select(s => s.Id).Should().Equal("s0", "s1", "s2", "s4", "s6", "s7", "s8", "s9", "s3", "s5");
        all.Select(s => s.Sequence).Should().BeInAscendingOrder();
        all.Single(s => s.Id == "s3").Note.Should().Be("changed");
        all.Single(s => s.Id == "s5").Deleted.Should().BeTrue();

        var page = schedules.ChangesAfter(0, 4);
        page.Select(s => s.Id).Should().Equal("s0", "s1", "s2", "s4");
        schedules.ChangesAfter(page[^1].Sequence, 100).Select(s => s.Id).Should().Equal("s6", "s7", "s8", "s9", "s3", "s5");
        schedules.ChangesAfter(all[^1].Sequence, 100).Should().BeEmpty();
    }

    private static StoredSchedule New(string id, int step) => new()
    {
        Id = id,
        WorkflowName = "w",
        Definition = "{\"step\":" + step + "}",
        CreatedAt = DateTimeOffset.UnixEpoch,
        UpdatedAt = DateTimeOffset.UnixEpoch,
        SpecSince = DateTimeOffset.UnixEpoch,
    };

    /// <summary>From a few sequences, the changes read (whole, and in pages) are those the model holds after it.</summary>
    private static void Check(InMemorySchedules schedules, Dictionary<string, (long Sequence, bool Deleted, long DeletedAt)> model, Random random)
    {
        long top = model.Count == 0 ? 0 : model.Values.Max(v => v.Sequence);
        foreach (long after in new[] { 0, top / 3, top / 2, top - 1, top, random.NextInt64(top + 1) })
        {
            var expected = model.Where(p => p.Value.Sequence > after).OrderBy(p => p.Value.Sequence).Select(p => (p.Key, p.Value.Sequence, p.Value.Deleted)).ToList();
            var read = schedules.ChangesAfter(after, int.MaxValue);
            read.Select(s => (s.Id, s.Sequence, s.Deleted)).Should().Equal(expected);
            foreach (var s in read.Where(s => !s.Deleted))
            {
                schedules.Get(s.Id).Should().Be(s, "the change read is the schedule's current state");
            }

            var paged = new List<(string, long, bool)>();
            long from = after;
            IReadOnlyList<StoredSchedule> page;
            while ((page = schedules.ChangesAfter(from, 7)).Count > 0)
            {
                page.Count.Should().BeLessThanOrEqualTo(7);
                paged.AddRange(page.Select(s => (s.Id, s.Sequence, s.Deleted)));
                from = page[^1].Sequence;
            }

            paged.Should().Equal(expected);
        }
    }
}
