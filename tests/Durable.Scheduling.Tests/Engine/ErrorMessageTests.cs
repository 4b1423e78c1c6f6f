using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>
/// A failed run records its exception's type and message (scenario E1), the message cut to
/// <see cref="SchedulingLimits.MaxErrorMessageLength"/>: a handler throwing a megabyte of text does not store it with every
/// attempt.
/// </summary>
[TestFixture]
public sealed class ErrorMessageTests
{
    private static readonly DateTimeOffset s_start = new(2026, 3, 1, 9, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task AHugeExceptionMessage_IsRecordedCut_OnTheRetryAndOnTheFailure()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(LoudWorkflows)]);
        await harness.StartAsync();
        var id = (await harness.Scheduler.ScheduleAsync("loud", s_start)).Id;
        await harness.RunUntilAsync(s_start.AddSeconds(1));
        var retrying = await harness.Scheduler.GetAsync(id);
        retrying!.Status.Should().Be(RunStatus.Pending, "its second attempt is due in a minute");
        retrying.Error!.Type.Should().Be("System.InvalidOperationException");
        retrying.Error.Message.Should().HaveLength(SchedulingLimits.MaxErrorMessageLength).And.StartWith("attempt 1: xxx").And.EndWith("x…");

        await harness.RunForAsync(TimeSpan.FromMinutes(2));
        var failed = await harness.Scheduler.GetAsync(id);
        failed!.Status.Should().Be(RunStatus.Failed);
        failed.Error!.Message.Should().HaveLength(SchedulingLimits.MaxErrorMessageLength).And.StartWith("attempt 2: xxx");
    }

    [Test]
    public void AMessageAtTheLimit_IsKeptWhole_AndOneBeyondIsNeverCutInsideASurrogatePair()
    {
        string exact = new('a', SchedulingLimits.MaxErrorMessageLength);
        RunAttempt.Shortened(exact).Should().BeSameAs(exact);
        RunAttempt.Shortened("short").Should().Be("short");

        // The character before the cut is the high half of an emoji: it goes with its low half.
        string pair = new string('a', SchedulingLimits.MaxErrorMessageLength - 2) + "😀" + "bbb";
        string cut = RunAttempt.Shortened(pair);
        cut.Should().HaveLength(SchedulingLimits.MaxErrorMessageLength - 1).And.EndWith("a…");
        char.IsSurrogate(cut[^2]).Should().BeFalse();
    }

    /// <summary>Throws a hundred thousand characters.</summary>
    public sealed class LoudWorkflows
    {
        [Workflow("loud", MaxAttempts = 2, RetryDelaySeconds = 60)]
        public static void Loud(ScheduledRunContext run) =>
            throw new InvalidOperationException($"attempt {run.Attempt}: " + new string('x', 100_000));
    }
}
