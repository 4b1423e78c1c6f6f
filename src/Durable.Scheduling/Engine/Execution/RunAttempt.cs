using System.Diagnostics;
using System.Text.Json;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Schedules;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine.Execution;

/// <summary>
/// One attempt of a claimed run, on a pool thread: waits for its instant when handed over early, invokes the handler
/// (in a new DI scope when it needs one), frees its concurrency slot, then applies <see cref="OutcomePolicy"/>: the
/// outcome to the completion writer, or the run released for a retry or because stopping interrupted it. No exception
/// escapes.
/// </summary>
internal sealed class RunAttempt(
    ISchedulingStore store,
    TimeProvider time,
    ConcurrencySlots slots,
    WakeSignal signal,
    ExecutionTracker tracker,
    IOutcomeWriter writer,
    IServiceScopeFactory scopes,
    IServiceProvider services,
    SchedulingOptions options,
    ScheduleHolds holds,
    ILogger logger,
    CancellationToken stopping)
{
    private readonly JsonSerializerOptions _strictJson = WorkflowInvoker.Strict(options.JsonSerializerOptions);

    public async Task ExecuteAsync(RunExecution execution)
    {
        var run = execution.Lease.Run;
        if (execution.StartAt != 0)
        {
            PreciseDelay.Spin(execution.StartAt);
        }

        if (stopping.IsCancellationRequested)
        {
            // Stopping began after the run was handed to the thread pool, before its handler started (it waited for a
            // thread, or behind earlier runs of its batch): no run starts once stopping has begun; it goes back pending.
            Log.RunReleased(logger, run.Id, run.WorkflowName);
            await HandBackAsync(execution).ConfigureAwait(false);
            return;
        }

        if (run.Kind == RunKind.Occurrence && holds.HeldSince(run.ScheduleId!, execution.ClaimedAfterChange))
        {
            // Its schedule was paused or deleted here after the claim (a run is claimed a little before its instant):
            // it goes back pending, as if it had not been claimed. A paused schedule keeps it for the resume, which
            // applies the catch-up policy; a deleted one's is withdrawn by the loop.
            Log.OccurrenceHeld(logger, run.Id, run.ScheduleId!);
            await HandBackAsync(execution).ConfigureAwait(false);
            return;
        }

        var workflow = execution.Workflow;
        var startedAt = time.GetUtcNow();
        SchedulingTelemetry.RunsStarted.Add(1, new KeyValuePair<string, object?>("workflow", run.WorkflowName), new KeyValuePair<string, object?>("schedule", run.ScheduleId));
        SchedulingTelemetry.ActiveRuns.Add(1);
        SchedulingTelemetry.DispatchLag.Record((startedAt - run.DueTime).TotalMilliseconds, new KeyValuePair<string, object?>("workflow", run.WorkflowName), new KeyValuePair<string, object?>("schedule", run.ScheduleId));
        // The run continues the trace of the activity that scheduled it (stored with the run), when there was one.
        // It is also linked to it, for tools that show runs as traces of their own.
        using var activity = run.TraceParent is { } traceParent && ActivityContext.TryParse(traceParent, null, out var caller)
            ? SchedulingTelemetry.ActivitySource.StartActivity("durable.scheduling.run", ActivityKind.Internal, caller, links: [new ActivityLink(caller)])
            : SchedulingTelemetry.ActivitySource.StartActivity("durable.scheduling.run", ActivityKind.Internal);
        activity?.SetTag("durable.scheduling.workflow", run.WorkflowName);
        activity?.SetTag("durable.scheduling.run_id", run.Id);
        activity?.SetTag("durable.scheduling.schedule", run.ScheduleId);
        activity?.SetTag("durable.scheduling.attempt", run.Attempt);
        Log.RunStarted(logger, run.Id, run.WorkflowName, run.Attempt, run.ScheduledTime);
        Exception? failure = null;
        try
        {
            if (workflow is null)
            {
                throw new InvalidOperationException($"Workflow '{run.WorkflowName}' is not defined in this process.");
            }

            if (workflow.Timeout is { } timeout)
            {
                execution.CancelAfter(timeout, options.TimeoutGrace, time);
            }

            var context = workflow.Invoker.TakesContext ? new ScheduledRunContext(run, startedAt, run.Attempt) : null;
            var input = workflow.Invoker.ReadInput(run.Input, _strictJson, run.WorkflowName, run.Id);
            if (workflow.Invoker.NeedsScope)
            {
                var scope = scopes.CreateAsyncScope();
                await using (scope.ConfigureAwait(false))
                {
                    await workflow.Invoker.InvokeAsync(scope.ServiceProvider, context, input, execution.Token).ConfigureAwait(false);
                }
            }
            else
            {
                await workflow.Invoker.InvokeAsync(services, context, input, execution.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            failure = e;
        }

        bool abandoned = !execution.EndHandler();
        SchedulingTelemetry.ActiveRuns.Add(-1);
        if (abandoned)
        {
            activity?.SetStatus(ActivityStatusCode.Error, "Abandoned: it ran on past its timeout and grace.");
        }
        else if (failure is null)
        {
            activity?.SetStatus(ActivityStatusCode.Ok);
            if (logger.IsEnabled(LogLevel.Debug))
            {
                Log.RunSucceeded(logger, run.Id, run.WorkflowName, time.GetUtcNow() - startedAt); // no clock read per run unless asked
            }
        }
        else
        {
            activity?.SetStatus(ActivityStatusCode.Error, failure.GetType().FullName + ": " + failure.Message);
        }

        // Free the concurrency slot now (not when the outcome is stored), and wake the loop if runs wait for one.
        if (slots.Free())
        {
            signal.Set();
        }

        // A run abandoned while its handler ran on was recorded then: what the handler did is not (unless that recording
        // failed, when its end is recorded as any other's).
        if (abandoned && await execution.Abandonment!.ConfigureAwait(false))
        {
            tracker.Ended(execution);
            return;
        }

        try
        {
            await FinishAsync(execution, failure).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.CompletionFailed(logger, e, run.Id);
            tracker.Ended(execution);
        }
    }

    /// <summary>
    /// Gives up a run whose handler has not started: its slot back, its claim undone (back to pending, the attempt that
    /// never began not counted).
    /// </summary>
    private async Task HandBackAsync(RunExecution execution)
    {
        slots.GiveBack();
        execution.EndHandler(); // none ran: the lease goes back
        try
        {
            await store.UnclaimAsync(execution.Lease.Run.Id, execution.Lease.Token, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.CompletionFailed(logger, e, execution.Lease.Run.Id); // its lease expires and the run is claimed again
        }

        tracker.Ended(execution);
    }

    /// <summary>
    /// Records a run whose handler ran on past its timeout and <see cref="SchedulingOptions.TimeoutGrace"/> as failed with a
    /// <see cref="TimeoutException"/>, with no further attempt (its handler may still be doing the work). True when nothing
    /// more is to be stored about the run (recorded, or its lease was lost); false when the store call failed, so the
    /// handler's end, when it comes, is recorded as usual.
    /// </summary>
    public async Task<bool> AbandonAsync(RunExecution execution)
    {
        var run = execution.Lease.Run;
        try
        {
            var timeout = execution.Workflow?.Timeout;
            Log.RunAbandoned(logger, run.Id, run.WorkflowName, timeout, options.TimeoutGrace);
            SchedulingTelemetry.RunsFailed.Add(1, new KeyValuePair<string, object?>("workflow", run.WorkflowName), new KeyValuePair<string, object?>("schedule", run.ScheduleId));
            var error = new RunError(
                typeof(TimeoutException).FullName!,
                $"Run {run.Id} of {run.WorkflowName} exceeded its timeout of {timeout} and had not returned {options.TimeoutGrace} after its cancellation: abandoned (its handler may still be running).");
            var completion = new RunCompletion(run.Id, execution.Lease.Token, RunStatus.Failed, time.GetUtcNow(), error) { ScheduleId = run.ScheduleId };
            var stored = await store.CompleteAsync([completion], CancellationToken.None).ConfigureAwait(false);
            if (!stored[0])
            {
                Log.LeaseLost(logger, run.Id, run.WorkflowName);
            }

            return true;
        }
        catch (Exception e)
        {
            Log.CompletionFailed(logger, e, run.Id);
            return false;
        }
    }

    /// <summary>A message cut to <see cref="SchedulingLimits.MaxErrorMessageLength"/> (never inside a surrogate pair), ending in an ellipsis when cut.</summary>
    internal static string Shortened(string message)
    {
        if (message.Length <= SchedulingLimits.MaxErrorMessageLength)
        {
            return message;
        }

        int keep = SchedulingLimits.MaxErrorMessageLength - 1;
        if (char.IsHighSurrogate(message[keep - 1]))
        {
            keep--;
        }

        return string.Concat(message.AsSpan(0, keep), "…");
    }

    /// <summary>Releases a run's lease quietly (back to pending, attempt kept); a failure is logged and the lease expires.</summary>
    public async Task ReleaseQuietlyAsync(RunExecution execution)
    {
        try
        {
            var run = execution.Lease.Run;
            await store.ReleaseAsync(run.Id, execution.Lease.Token, run.DueTime, run.Error, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.CompletionFailed(logger, e, execution.Lease.Run.Id);
        }
    }

    private async Task FinishAsync(RunExecution execution, Exception? failure)
    {
        var run = execution.Lease.Run;
        var now = time.GetUtcNow();
        var outcome = OutcomePolicy.Decide(failure, run, execution.Workflow, execution.CancelledByOverlap, execution.TimedOut, stopping.IsCancellationRequested, now);
        switch (outcome.Kind)
        {
            case OutcomeKind.Succeeded:
                SchedulingTelemetry.RunsSucceeded.Add(1, new KeyValuePair<string, object?>("workflow", run.WorkflowName), new KeyValuePair<string, object?>("schedule", run.ScheduleId));
                writer.Complete(execution, RunStatus.Succeeded, now, null);
                return;
            case OutcomeKind.CancelledByOverlap:
                writer.Complete(execution, RunStatus.Cancelled, now, new RunError(outcome.Failure!.GetType().FullName!, "Cancelled by overlap policy CancelOther: a newer occurrence came due."));
                return;
            case OutcomeKind.ReleasedForStop:
                Log.RunReleased(logger, run.Id, run.WorkflowName);
                await ReleaseQuietlyAsync(execution).ConfigureAwait(false);
                tracker.Ended(execution);
                return;
        }

        var error = outcome.Failure!;
        SchedulingTelemetry.RunsFailed.Add(1, new KeyValuePair<string, object?>("workflow", run.WorkflowName), new KeyValuePair<string, object?>("schedule", run.ScheduleId));
        var recorded = new RunError(error.GetType().FullName ?? error.GetType().Name, Shortened(error.Message));
        if (outcome.Kind == OutcomeKind.Retry)
        {
            Log.RunRetrying(logger, error, run.Id, run.WorkflowName, run.Attempt, outcome.RetryAt);
            if (await store.ReleaseAsync(run.Id, execution.Lease.Token, outcome.RetryAt, recorded, CancellationToken.None).ConfigureAwait(false))
            {
                execution.Retry = run with { Status = RunStatus.Pending, DueTime = outcome.RetryAt }; // tracked when the loop sees the end
            }
            else
            {
                Log.LeaseLost(logger, run.Id, run.WorkflowName);
            }

            tracker.Ended(execution);
            return;
        }

        Log.RunFailed(logger, error, run.Id, run.WorkflowName, run.Attempt);
        writer.Complete(execution, RunStatus.Failed, now, recorded);
    }
}
