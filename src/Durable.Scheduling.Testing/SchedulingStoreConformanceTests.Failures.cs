using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

// Cancellation and the failure contract.
public abstract partial class SchedulingStoreConformanceTests
{
    /// <summary>Contract: a call whose token is already cancelled throws <see cref="OperationCanceledException"/> and changes nothing.</summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task EveryCall_WithACancelledToken_ThrowsOperationCanceled_AndChangesNothing()
    {
        var stored = OneTime(Now);
        await _store.InsertAsync([stored], default);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var token = cancelled.Token;
        var fresh = OneTime(Now);
        var calls = new Dictionary<string, Func<Task>>
        {
            ["InsertAsync"] = async () => await _store.InsertAsync([fresh], token),
            ["InsertOneAsync"] = async () => await _store.InsertOneAsync(fresh, token),
            ["GetAsync"] = async () => await _store.GetAsync(stored.Id, token),
            ["ListAsync"] = async () => await _store.ListAsync(new RunQuery(), token),
            ["DeleteAsync(ids)"] = async () => await _store.DeleteAsync([stored.Id], token),
            ["DeleteAsync(filter)"] = async () => await _store.DeleteAsync(new RunQuery(), token),
            ["RescheduleAsync"] = async () => await _store.RescheduleAsync([new RunTimeChange(stored.Id, Now.AddHours(1))], token),
            ["SkipPendingAsync"] = async () => await _store.SkipPendingAsync([stored.Id], Now, new RunError("t", "m"), token),
            ["GetDueAsync"] = async () => await _store.GetDueAsync(Now, 10, null, token),
            ["GetExpiredLeasesAsync"] = async () => await _store.GetExpiredLeasesAsync(Now, 10, token),
            ["ClaimAsync"] = async () => await _store.ClaimAsync([stored.Id], Now, s_lease, "node-a", token),
            ["ReleaseOwnedAsync"] = async () => await _store.ReleaseOwnedAsync("node-a", token),
            ["GetLeaseOwnersAsync"] = async () => await _store.GetLeaseOwnersAsync(token),
            ["AdvanceWatermarkAsync"] = async () => await _store.AdvanceWatermarkAsync("cron", Now, token),
            ["GetWatermarkAsync"] = async () => await _store.GetWatermarkAsync("cron", token),
            ["PurgeAsync"] = async () => await _store.PurgeAsync(Now.AddDays(1), 10, token),
            ["CreateScheduleAsync"] = async () => await _store.CreateScheduleAsync(Schedule("s"), token),
            ["GetScheduleAsync"] = async () => await _store.GetScheduleAsync("s", token),
            ["ListSchedulesAsync"] = async () => await _store.ListSchedulesAsync(new ScheduleQuery(), token),
            ["GetScheduleChangesAsync"] = async () => await _store.GetScheduleChangesAsync(0, 10, token),
            ["UpdateScheduleAsync"] = async () => await _store.UpdateScheduleAsync(Schedule("s"), 1, false, token),
            ["DeleteScheduleAsync"] = async () => await _store.DeleteScheduleAsync("s", Now, token),
            ["AddScheduleCountsAsync"] = async () => await _store.AddScheduleCountsAsync([new ScheduleCountChange("s", new ScheduleCounters { Runs = 1 }, 1)], token),
        };
        foreach (var (name, call) in calls)
        {
            await call.Should().ThrowAsync<OperationCanceledException>(name);
        }

        var after = await _store.GetAsync(stored.Id, default);
        after.Should().NotBeNull("a cancelled delete deletes nothing");
        after!.Status.Should().Be(RunStatus.Pending, "a cancelled claim claims nothing");
        after.ScheduledTime.Should().Be(Now, "a cancelled reschedule moves nothing");
        after.Status.Should().Be(RunStatus.Pending, "a cancelled skip skips nothing");
        (await _store.GetAsync(fresh.Id, default)).Should().BeNull("a cancelled insert inserts nothing");
        (await _store.GetWatermarkAsync("cron", default)).Should().BeNull("a cancelled watermark write writes nothing");
        (await _store.GetScheduleAsync("s", default)).Should().BeNull("a cancelled schedule create creates nothing");
    }

    /// <summary>
    /// Contract: while the backing resource is unavailable, a write fails; every call fails only with
    /// <see cref="IOException"/> or <see cref="TimeoutException"/> (never a provider exception); a failed call changes
    /// nothing; the store works again once the resource is back.
    /// </summary>
    /// <returns>The test.</returns>
    [Test]
    public async Task EveryCall_WhenTheStoreIsUnavailable_FailsOnlyWithIOExceptionOrTimeout_AndChangesNothing()
    {
        var stored = OneTime(Now);
        await _store.InsertAsync([stored], default);
        var outage = await MakeUnavailableAsync(_store);
        if (outage is null)
        {
            Assert.Ignore("This store has no backing resource to lose (MakeUnavailableAsync returns null).");
            return;
        }

        var fresh = OneTime(Now);
        var failures = new Dictionary<string, Exception?>();
        await using (outage)
        {
            var calls = new Dictionary<string, Func<Task>>
            {
                ["InsertAsync"] = async () => await _store.InsertAsync([fresh], default),
                ["GetAsync"] = async () => await _store.GetAsync(stored.Id, default),
                ["ListAsync"] = async () => await _store.ListAsync(new RunQuery(), default),
                ["DeleteAsync(ids)"] = async () => await _store.DeleteAsync([stored.Id], default),
                ["RescheduleAsync"] = async () => await _store.RescheduleAsync([new RunTimeChange(stored.Id, Now.AddHours(1))], default),
                ["GetDueAsync"] = async () => await _store.GetDueAsync(Now, 10, null, default),
                ["GetExpiredLeasesAsync"] = async () => await _store.GetExpiredLeasesAsync(Now, 10, default),
                ["ClaimAsync"] = async () => await _store.ClaimAsync([stored.Id], Now, s_lease, "node-a", default),
                ["AdvanceWatermarkAsync"] = async () => await _store.AdvanceWatermarkAsync("cron", Now, default),
                ["GetWatermarkAsync"] = async () => await _store.GetWatermarkAsync("cron", default),
                ["PurgeAsync"] = async () => await _store.PurgeAsync(Now.AddDays(1), 10, default),
                ["CreateScheduleAsync"] = async () => await _store.CreateScheduleAsync(Schedule("s"), default),
                ["GetScheduleAsync"] = async () => await _store.GetScheduleAsync("s", default),
                ["ListSchedulesAsync"] = async () => await _store.ListSchedulesAsync(new ScheduleQuery(), default),
                ["GetScheduleChangesAsync"] = async () => await _store.GetScheduleChangesAsync(0, 10, default),
                ["UpdateScheduleAsync"] = async () => await _store.UpdateScheduleAsync(Schedule("s"), 1, false, default),
                ["DeleteScheduleAsync"] = async () => await _store.DeleteScheduleAsync("s", Now, default),
                ["AddScheduleCountsAsync"] = async () => await _store.AddScheduleCountsAsync([new ScheduleCountChange("s", new ScheduleCounters { Runs = 1 }, 1)], default),
            };
            foreach (var (name, call) in calls)
            {
                try
                {
                    await call();
                    failures[name] = null;
                }
                catch (Exception e)
                {
                    failures[name] = e;
                }
            }
        }

        failures["InsertAsync"].Should().NotBeNull("a write cannot succeed while the store is unavailable");
        foreach (var (name, error) in failures)
        {
            if (error is not null)
            {
                error.Should().Match(e => e is IOException || e is TimeoutException, $"{name} failed with {error.GetType().FullName}: {error.Message}");
            }
        }

        var after = await _store.GetAsync(stored.Id, default);
        if (failures["DeleteAsync(ids)"] is not null)
        {
            after.Should().NotBeNull("the failed delete changed nothing");
        }

        if (after is not null && failures["ClaimAsync"] is not null && failures["RescheduleAsync"] is not null)
        {
            after.Status.Should().Be(RunStatus.Pending, "the failed claim changed nothing");
            after.ScheduledTime.Should().Be(Now, "the failed reschedule changed nothing");
        }

        (await _store.GetAsync(fresh.Id, default)).Should().BeNull("the failed insert inserted nothing");
        if (failures["CreateScheduleAsync"] is not null)
        {
            (await _store.GetScheduleAsync("s", default)).Should().BeNull("the failed schedule create created nothing");
        }

        (await _store.InsertAsync([OneTime(Now)], default)).Single().Created.Should().BeTrue("the store works again once the resource is back");
    }
}
