using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// Deletes and reschedules racing with dispatch, on the real clock (scenario E6): no run starts after its deletion
/// returned, a run moved later never runs at its old time, and one whose change was refused (it had started) runs once.
/// </summary>
[TestFixture]
public sealed class RaceTests
{
    [Test]
    public async Task DeleteAndReschedule_RacingWithClaims_NeverStartAChangedRun()
    {
        using var host = await RealClockHost.StartAsync<OneTimeWorkflows>();
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        var log = host.Services.GetRequiredService<RunLog>();

        var start = TimeProvider.System.GetUtcNow().AddMilliseconds(20);
        var runs = await scheduler.ScheduleManyAsync(Enumerable.Range(0, 2000).Select(i =>
            new RunRequest("send-reminder", start.AddMilliseconds(i % 40), new Reminder(i, "race"))));

        var deleted = new List<Guid>();
        var deletedAt = new Dictionary<Guid, DateTimeOffset>();
        var moved = new List<Guid>();
        var refused = new List<Guid>();
        await Task.WhenAll(
            Task.Run(async () =>
            {
                foreach (var (run, n) in runs.Where((_, i) => i % 3 == 0).Select((r, n) => (r, n)))
                {
                    if (n % 10 == 0)
                    {
                        await Task.Delay(1); // spread the deletions over the dispatch window, so some land mid-claim
                    }

                    try
                    {
                        if (await scheduler.DeleteAsync(run.Id))
                        {
                            var at = TimeProvider.System.GetUtcNow();
                            lock (deleted)
                            {
                                deleted.Add(run.Id);
                                deletedAt[run.Id] = at;
                            }
                        }
                    }
                    catch (ScheduledRunStateException)
                    {
                        lock (refused)
                        {
                            refused.Add(run.Id);
                        }
                    }
                }
            }),
            Task.Run(async () =>
            {
                foreach (var (run, n) in runs.Where((_, i) => i % 3 == 1).Select((r, n) => (r, n)))
                {
                    if (n % 10 == 0)
                    {
                        await Task.Delay(1);
                    }

                    try
                    {
                        await scheduler.RescheduleAsync(run.Id, start.AddHours(1));
                        lock (moved)
                        {
                            moved.Add(run.Id);
                        }
                    }
                    catch (ScheduledRunStateException)
                    {
                        lock (refused)
                        {
                            refused.Add(run.Id);
                        }
                    }
                }
            }));

        // Wait (bounded; never asserted as a time) until every run not changed has run.
        var expected = runs.Select(r => r.Id).Where((_, i) => i % 3 == 2).Concat(refused).ToHashSet();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (log.Invocations.Select(i => i.RunId).Distinct().Count(expected.Contains) < expected.Count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        await host.StopAsync();
        var ran = log.Invocations.GroupBy(i => i.RunId).ToDictionary(g => g.Key, g => g.Count());
        deleted.Should().NotBeEmpty();
        moved.Should().NotBeEmpty();
        // A run may have ended before it was deleted (deleting an ended run removes its history); none starts after.
        log.Invocations.Where(i => deletedAt.TryGetValue(i.RunId, out var at) && i.Started > at)
            .Should().BeEmpty("no run starts after its deletion returned");
        ran.Keys.Should().NotIntersectWith(moved, "a run moved to a later time does not also run at its old time");
        ran.Values.Should().OnlyContain(count => count == 1, "every run that ran, ran once");
        expected.Should().BeSubsetOf(ran.Keys, "every run left alone, or whose change was refused because it had started, ran");
        TestContext.Out.WriteLine($"{deleted.Count} deleted, {moved.Count} moved, {refused.Count} refused as already started, {ran.Count} ran.");
    }
}
