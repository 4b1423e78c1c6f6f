using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// Runs due within a few milliseconds are claimed ahead of their instant (the store's write is done early), yet never
/// start before it; a run claimed ahead is handed back when the scheduler stops first; a failed claim gives back what
/// it reserved.
/// </summary>
[TestFixture]
public sealed class PreClaimTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task RunDueSoon_IsClaimedAhead_ButStartsExactlyAtItsInstant()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)]);
        await harness.StartAsync();
        var due = s_start.AddSeconds(10);
        var run = await harness.Scheduler.ScheduleAsync("send-reminder", due, new Reminder(1, "x"));

        await harness.RunUntilAsync(due.AddMilliseconds(-2));
        (await harness.Store.GetAsync(run.Id, default))!.Status.Should().Be(RunStatus.Running, "it was claimed within the pre-claim window");
        harness.Log.Invocations.Should().BeEmpty("a run never starts before its instant");

        await harness.RunUntilAsync(due.AddSeconds(1));
        harness.Log.Of("send-reminder").Should().ContainSingle().Which.Started.Should().Be(due);
        var stored = await harness.Store.GetAsync(run.Id, default);
        stored!.Status.Should().Be(RunStatus.Succeeded);
        stored.StartedAt.Should().Be(due, "a run claimed ahead is recorded as started at its instant");
        stored.Attempt.Should().Be(1);
    }

    [Test]
    public async Task SlowFeeds_WaitForARunDueSoon_InsteadOfDelayingItsClaim()
    {
        // Every feed takes 40 ms of the scheduler's clock (its read of schedule changes does: a large book of schedules,
        // a durable store's reads). Feeds begin each poll, on whole seconds, unless a run is due soon. A run due 30 ms
        // after a poll is claimed 8 ms before its instant: a feed beginning at the poll would end after that, and the
        // run would be claimed (and start) late. Once the loop has measured its feeds, it lets such a run go first.
        // Asserted on the store's record: a run claimed ahead is recorded as started at its instant, one claimed late
        // at the claim (the handler's own start would also show the clock this test moves inside the store).
        var store = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(1), store: store);
        await harness.StartAsync();
        store.OnScheduleChangesRead = () => harness.Time.Advance(TimeSpan.FromMilliseconds(40));
        await harness.RunUntilAsync(s_start.AddSeconds(3).AddMilliseconds(500)); // a few feeds: their length is known

        var requests = Enumerable.Range(5, 6).Select(k => new RunRequest("send-reminder", s_start.AddSeconds(k).AddMilliseconds(30), new Reminder(k, "x"))).ToList();
        var ids = (await harness.Scheduler.ScheduleManyAsync(requests)).Select(r => r.Id).ToList();
        await harness.RunUntilAsync(s_start.AddSeconds(12));

        foreach (var id in ids)
        {
            var run = (await harness.Store.GetAsync(id, default))!;
            run.Status.Should().Be(RunStatus.Succeeded);
            run.StartedAt.Should().Be(run.ScheduledTime, "no feed began where it would end after the run's claim");
        }
    }

    [Test]
    public async Task RealClock_RunsHandedToThePoolAheadOfTheirInstant_NeverStartBeforeIt()
    {
        // On the real clock a run claimed ahead reaches a pool thread half a millisecond before its instant, and that
        // thread waits for the instant on the monotonic clock. Runs at random instants (a few sharing one) must each
        // start at or after their instant by the wall clock the handler reads. Only the order is asserted, never a
        // duration.
        using var host = await RealClockHost.StartAsync<OneTimeWorkflows>();
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        var log = host.Services.GetRequiredService<RunLog>();
        var random = new Random(7);
        var first = TimeProvider.System.GetUtcNow().AddMilliseconds(100);
        var requests = Enumerable.Range(0, 300)
            .Select(i => new RunRequest("send-reminder", first.AddTicks(random.Next(0, 80) * TimeSpan.TicksPerMillisecond * 10 + (i % 3) * 3_000), new Reminder(i, "x")))
            .ToList();
        await scheduler.ScheduleManyAsync(requests);

        await RealClockHost.UntilAsync(() => log.Invocations.Count >= requests.Count);

        await host.StopAsync();
        var runs = log.Of("send-reminder");
        runs.Should().HaveCount(requests.Count);
        runs.Should().OnlyContain(r => r.Started >= r.Scheduled, "no run starts before its instant, however early it was handed over");
    }

    [Test]
    public async Task Stop_WhileRunIsClaimedAhead_HandsItBackPending_AndTheNextInstanceRunsItOnce()
    {
        var store = new InMemorySchedulingStore();
        var due = s_start.AddSeconds(10);
        Guid id;
        await using (var before = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], store: store))
        {
            await before.StartAsync();
            id = (await before.Scheduler.ScheduleAsync("send-reminder", due, new Reminder(1, "x"))).Id;
            await before.RunUntilAsync(due.AddMilliseconds(-2));
            (await store.GetAsync(id, default))!.Status.Should().Be(RunStatus.Running);
            await before.StopAsync();
            before.Log.Invocations.Should().BeEmpty("no run starts after stop began");
        }

        var released = await store.GetAsync(id, default);
        released!.Status.Should().Be(RunStatus.Pending, "stopping hands back a run claimed ahead, without waiting for its lease");
        released.DueTime.Should().Be(due);

        await using var after = new SchedulerHarness(due.AddMilliseconds(-1), [typeof(OneTimeWorkflows)], store: store);
        await after.StartAsync();
        await after.RunUntilAsync(due.AddSeconds(1));
        var ran = after.Log.Of("send-reminder").Should().ContainSingle().Subject;
        ran.Started.Should().Be(due);
        ran.Attempt.Should().Be(1, "the attempt handed back never started its handler");
    }

    [Test]
    public async Task ClaimFailures_GiveTheirConcurrencySlotsBack_SoRunsStartOnceTheStoreRecovers()
    {
        // More failed claims than MaxConcurrency: had a failed claim kept its reservations, no run could ever start.
        var store = new FlakyStore(new InMemorySchedulingStore()) { FailClaims = 5 };
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => o.MaxConcurrency = 2, store: store);
        await harness.StartAsync();
        for (int i = 0; i < 3; i++)
        {
            await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(1), new Reminder(i, "x"));
        }

        await harness.RunForAsync(TimeSpan.FromMinutes(10));
        store.FailClaims.Should().Be(0, "every planned claim failure happened (one per poll interval: the loop backs off)");
        harness.Log.Of("send-reminder").Select(i => ((Reminder)i.Input!).CustomerId).Order().Should().Equal(0, 1, 2);
    }

    [Test]
    public async Task StoreReturningLeasesOutOfOrder_StillStartsEachClaimedRunOnce_AndKeepsItsSlots()
    {
        // The engine pairs leases with runs in order; a store breaking that order must cost neither runs nor slots.
        var store = new FlakyStore(new InMemorySchedulingStore()) { ReverseClaims = true };
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => o.MaxConcurrency = 3, store: store);
        await harness.StartAsync();
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < 10; i++)
            {
                await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(1), new Reminder((round * 10) + i, "x"));
            }

            await harness.RunForAsync(TimeSpan.FromMinutes(1));
        }

        harness.Log.Of("send-reminder").Select(i => ((Reminder)i.Input!).CustomerId).Order().Should().Equal(Enumerable.Range(0, 20),
            "every run ran once, and the second round found its concurrency slots free");
    }
}
