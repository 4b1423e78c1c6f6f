namespace Durable.Scheduling.Engine.Execution;

/// <summary>What happens to a run once its handler returned or threw.</summary>
internal enum OutcomeKind
{
    /// <summary>Stored as <see cref="RunStatus.Succeeded"/>.</summary>
    Succeeded,

    /// <summary>Stored as <see cref="RunStatus.Cancelled"/>: a newer occurrence came due under <see cref="OverlapPolicy.CancelOther"/>.</summary>
    CancelledByOverlap,

    /// <summary>Released back to pending, its attempt kept: stopping interrupted it; it runs again at the next start.</summary>
    ReleasedForStop,

    /// <summary>Released back to pending, due again at <see cref="Outcome.RetryAt"/>.</summary>
    Retry,

    /// <summary>Stored as <see cref="RunStatus.Failed"/>: its last attempt failed.</summary>
    Failed,
}

/// <summary>The decision about one attempt's end.</summary>
/// <param name="Kind">What happens.</param>
/// <param name="Failure">The failure to record (a timeout as <see cref="TimeoutException"/>), or null.</param>
/// <param name="RetryAt">When a retry is due (only for <see cref="OutcomeKind.Retry"/>).</param>
internal readonly record struct Outcome(OutcomeKind Kind, Exception? Failure, DateTimeOffset RetryAt);

/// <summary>
/// Decides what an attempt's end means: a pure function of the failure, the run's state and its workflow's failure
/// policy (retries with exponential backoff, capped at a day).
/// </summary>
internal static class OutcomePolicy
{
    private static readonly long s_maxRetryDelayTicks = TimeSpan.FromDays(1).Ticks;

    /// <param name="failure">What the handler threw, or null.</param>
    /// <param name="run">The run, with the attempt that just ended.</param>
    /// <param name="workflow">Its workflow (null when not defined here: it fails).</param>
    /// <param name="cancelledByOverlap">Its token was cancelled by <see cref="OverlapPolicy.CancelOther"/>.</param>
    /// <param name="timedOut">Its token was cancelled by the workflow's timeout.</param>
    /// <param name="stopping">The scheduler is stopping.</param>
    /// <param name="now">The instant it ended.</param>
    public static Outcome Decide(Exception? failure, ScheduledRun run, WorkflowDescriptor? workflow, bool cancelledByOverlap, bool timedOut, bool stopping, DateTimeOffset now)
    {
        if (failure is null)
        {
            return new Outcome(OutcomeKind.Succeeded, null, default);
        }

        bool cancelled = failure is OperationCanceledException;
        if (cancelledByOverlap && cancelled)
        {
            return new Outcome(OutcomeKind.CancelledByOverlap, failure, default);
        }

        if (stopping && cancelled)
        {
            return new Outcome(OutcomeKind.ReleasedForStop, failure, default);
        }

        if (timedOut && cancelled)
        {
            failure = new TimeoutException($"Run {run.Id} of {run.WorkflowName} exceeded its timeout of {workflow!.Timeout}.", failure);
        }

        int maxAttempts = workflow?.MaxAttempts ?? 1;
        if (run.Attempt < maxAttempts && !stopping)
        {
            var delay = TimeSpan.FromTicks((long)Math.Min(workflow!.RetryDelay.Ticks * Math.Pow(2, run.Attempt - 1), s_maxRetryDelayTicks));
            return new Outcome(OutcomeKind.Retry, failure, now + delay);
        }

        return new Outcome(OutcomeKind.Failed, failure, default);
    }
}
