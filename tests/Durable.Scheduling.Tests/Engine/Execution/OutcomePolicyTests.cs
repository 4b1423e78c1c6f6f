using Durable.Scheduling.Engine.Execution;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine.Execution;

/// <summary>The decision about an attempt's end, as a pure function.</summary>
[TestFixture]
public sealed class OutcomePolicyTests
{
    private static readonly DateTimeOffset s_now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void NoFailure_Succeeds()
    {
        Decide(null, attempt: 1).Kind.Should().Be(OutcomeKind.Succeeded);
    }

    [Test]
    public void CancelledByOverlap_IsRecordedAsCancelled_NotRetried()
    {
        Decide(new OperationCanceledException(), attempt: 1, maxAttempts: 5, cancelledByOverlap: true).Kind.Should().Be(OutcomeKind.CancelledByOverlap);
    }

    [Test]
    public void CancelledBecauseStopping_IsReleased_NotFailed()
    {
        Decide(new OperationCanceledException(), attempt: 1, stopping: true).Kind.Should().Be(OutcomeKind.ReleasedForStop);
    }

    [Test]
    public void OtherFailureWhileStopping_FailsWithoutRetry()
    {
        Decide(new InvalidOperationException("x"), attempt: 1, maxAttempts: 3, stopping: true).Kind.Should().Be(OutcomeKind.Failed);
    }

    [TestCase(1, 10)]
    [TestCase(2, 20)]
    [TestCase(3, 40)]
    public void FailureWithAttemptsLeft_RetriesWithDoublingDelay(int attempt, int seconds)
    {
        var outcome = Decide(new InvalidOperationException("x"), attempt, maxAttempts: 5, retryDelay: TimeSpan.FromSeconds(10));
        outcome.Kind.Should().Be(OutcomeKind.Retry);
        outcome.RetryAt.Should().Be(s_now.AddSeconds(seconds));
    }

    [Test]
    public void RetryDelay_IsCappedAtADay()
    {
        Decide(new InvalidOperationException("x"), attempt: 40, maxAttempts: 100, retryDelay: TimeSpan.FromHours(1)).RetryAt.Should().Be(s_now.AddDays(1));
    }

    [Test]
    public void LastAttemptFailed_Fails()
    {
        var failure = new InvalidOperationException("x");
        var outcome = Decide(failure, attempt: 3, maxAttempts: 3);
        outcome.Kind.Should().Be(OutcomeKind.Failed);
        outcome.Failure.Should().BeSameAs(failure);
    }

    [Test]
    public void TimedOut_FailsAsTimeoutException_NamingTheRunAndTheLimit()
    {
        var outcome = Decide(new OperationCanceledException(), attempt: 1, timedOut: true, timeout: TimeSpan.FromSeconds(30));
        outcome.Kind.Should().Be(OutcomeKind.Failed);
        outcome.Failure.Should().BeOfType<TimeoutException>().Which.Message.Should().Contain("wf").And.Contain("00:00:30");
    }

    [Test]
    public void WorkflowNotDefinedHere_Fails()
    {
        OutcomePolicy.Decide(new InvalidOperationException("x"), Run(1), workflow: null, false, false, false, s_now).Kind.Should().Be(OutcomeKind.Failed);
    }

    private static Outcome Decide(Exception? failure, int attempt, int maxAttempts = 1, TimeSpan? retryDelay = null, bool cancelledByOverlap = false, bool timedOut = false, bool stopping = false, TimeSpan? timeout = null)
    {
        var method = typeof(OutcomePolicyTests).GetMethod(nameof(Decide), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!;
        var workflow = new WorkflowDescriptor
        {
            Name = "wf",
            Method = method,
            Invoker = null!, // not used by the decision
            MaxAttempts = maxAttempts,
            RetryDelay = retryDelay ?? TimeSpan.FromSeconds(1),
            Timeout = timeout,
        };
        return OutcomePolicy.Decide(failure, Run(attempt), workflow, cancelledByOverlap, timedOut, stopping, s_now);
    }

    private static ScheduledRun Run(int attempt) => new()
    {
        Id = Guid.NewGuid(),
        WorkflowName = "wf",
        Kind = RunKind.OneTime,
        ScheduledTime = s_now,
        DueTime = s_now,
        Status = RunStatus.Running,
        Attempt = attempt,
    };
}
