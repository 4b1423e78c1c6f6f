using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

// The planning lock: one scheduler plans at a time among those sharing the store.
public abstract partial class SchedulingStoreConformanceTests
{
    /// <summary>
    /// The planning lock is held by one caller at a time: another waits until it is released (a wait cancelled meanwhile
    /// ends with <see cref="OperationCanceledException"/> and holds nothing), and releasing it twice releases it once.
    /// </summary>
    /// <returns>A task that completes when checked.</returns>
    [Test]
    public async Task EnterPlanningAsync_IsHeldByOneCallerAtATime()
    {
        var first = await _store.EnterPlanningAsync(default);
        var second = _store.EnterPlanningAsync(default).AsTask();
        using (var cancel = new CancellationTokenSource())
        {
            var cancelled = _store.EnterPlanningAsync(cancel.Token).AsTask();
            await Task.Delay(200); // real time: only to give a wrongly granted lock the chance to show
            second.IsCompleted.Should().BeFalse("the lock is held");
            cancelled.IsCompleted.Should().BeFalse("the lock is held");
            cancel.Cancel();
            await FluentActions.Awaiting(() => cancelled).Should().ThrowAsync<OperationCanceledException>();
        }

        second.IsCompleted.Should().BeFalse("the lock is still held");
        await first.DisposeAsync();
        var held = await second.WaitAsync(TimeSpan.FromSeconds(60));
        await first.DisposeAsync(); // again: releases nothing more
        var third = _store.EnterPlanningAsync(default).AsTask();
        await Task.Delay(200);
        third.IsCompleted.Should().BeFalse("the lock is held by the second caller; a second release of the first released nothing");
        await held.DisposeAsync();
        await (await third.WaitAsync(TimeSpan.FromSeconds(60))).DisposeAsync();
    }
}
