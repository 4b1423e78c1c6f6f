using Durable.Scheduling.Engine.Schedules;
using FluentAssertions;
using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>What a run claimed ahead checks as it starts: whether its schedule was paused or deleted here since.</summary>
[TestFixture]
public sealed class ScheduleHoldsTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void APause_HoldsRunsClaimedBeforeIt_NotThoseClaimedAfter_AndAResumeLetsBothGo()
    {
        var holds = new ScheduleHolds(new FakeTimeProvider(s_start));
        long before = holds.Current;
        holds.Changed("s", sequence: 2, holds: true);
        long after = holds.Current;

        holds.HeldSince("s", before).Should().BeTrue("claimed before the pause");
        holds.HeldSince("s", after).Should().BeFalse("claimed after it: the store refused nothing, so it was resumed meanwhile or the claim raced");
        holds.HeldSince("other", before).Should().BeFalse("another schedule");

        holds.Changed("s", sequence: 3, holds: false);
        holds.HeldSince("s", before).Should().BeFalse("resumed before the run started");
    }

    [Test]
    public void ChangesToldOutOfOrder_TheHigherStoreSequenceStands()
    {
        var holds = new ScheduleHolds(new FakeTimeProvider(s_start));
        long before = holds.Current;
        holds.Changed("s", sequence: 5, holds: true);  // paused at 5
        holds.Changed("s", sequence: 4, holds: false); // an older resume told late: the pause stands
        holds.HeldSince("s", before).Should().BeTrue();

        holds.Changed("s", sequence: 6, holds: false);
        holds.Changed("s", sequence: 5, holds: true);  // the pause again, told after the newer resume: it counts
        holds.HeldSince("s", before).Should().BeTrue("conservative: a run claimed before is handed back, never started against a pause");
    }

    [Test]
    public void SchedulesDeletedByTheThousand_LeaveOnlyRecentEntries()
    {
        var time = new FakeTimeProvider(s_start);
        var holds = new ScheduleHolds(time);
        for (int i = 0; i < 5_000; i++)
        {
            holds.Changed("old" + i, 1, holds: true);
        }

        time.Advance(TimeSpan.FromMinutes(2));
        long before = holds.Current;
        for (int i = 0; i < 5_000; i++)
        {
            holds.Changed("new" + i, 1, holds: true);
        }

        holds.HeldSince("new4999", before).Should().BeTrue();
        holds.HeldSince("new0", before).Should().BeTrue("recent entries stay");
        Enumerable.Range(0, 5_000).Count(i => holds.HeldSince("old" + i, 0)).Should().Be(0, "entries older than a minute go once there are many");
    }
}
