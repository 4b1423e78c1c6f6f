using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Diagnostics;

/// <summary>Every log message, with a stable event id. Never logs inputs, metadata values or secrets.</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Scheduler started with {WorkflowCount} workflows ({ScheduleCount} recurring schedules).")]
    public static partial void Started(ILogger logger, int workflowCount, int scheduleCount);

    [LoggerMessage(2, LogLevel.Information, "Scheduler stopping; {ActiveCount} runs are active.")]
    public static partial void Stopping(ILogger logger, int activeCount);

    [LoggerMessage(3, LogLevel.Debug, "Run {RunId} of {Workflow} started (attempt {Attempt}, scheduled {ScheduledTime:O}).")]
    public static partial void RunStarted(ILogger logger, Guid runId, string workflow, int attempt, DateTimeOffset scheduledTime);

    [LoggerMessage(4, LogLevel.Warning, "Run {RunId} of {Workflow} failed on attempt {Attempt}; retrying at {RetryAt:O}.")]
    public static partial void RunRetrying(ILogger logger, Exception exception, Guid runId, string workflow, int attempt, DateTimeOffset retryAt);

    [LoggerMessage(5, LogLevel.Error, "Run {RunId} of {Workflow} failed on its last attempt {Attempt}.")]
    public static partial void RunFailed(ILogger logger, Exception exception, Guid runId, string workflow, int attempt);

    [LoggerMessage(27, LogLevel.Error, "Run {RunId} of {Workflow} exceeded its timeout of {Timeout} and had not returned {Grace} after its cancellation: recorded as failed and abandoned (its handler may still be running; what it does when it returns is not recorded).")]
    public static partial void RunAbandoned(ILogger logger, Guid runId, string workflow, TimeSpan? timeout, TimeSpan grace);

    [LoggerMessage(6, LogLevel.Warning, "Run {RunId} of {Workflow}: its lease was lost before it ended; its outcome was not recorded.")]
    public static partial void LeaseLost(ILogger logger, Guid runId, string workflow);

    [LoggerMessage(7, LogLevel.Warning, "Schedule {Workflow}: {Dropped} missed occurrences between {From:O} and {To:O} were not run (policy {Policy}).")]
    public static partial void OccurrencesMissed(ILogger logger, string workflow, long dropped, DateTimeOffset from, DateTimeOffset to, CatchUpPolicy policy);

    [LoggerMessage(8, LogLevel.Information, "Schedule {Workflow}: occurrence {ScheduledTime:O} skipped by overlap policy {Policy}.")]
    public static partial void OccurrenceSkipped(ILogger logger, string workflow, DateTimeOffset scheduledTime, OverlapPolicy policy);

    [LoggerMessage(9, LogLevel.Error, "The scheduler loop hit an error and will retry in {Delay}.")]
    public static partial void LoopError(ILogger logger, Exception exception, TimeSpan delay);

    [LoggerMessage(10, LogLevel.Warning, "The wall clock jumped by {Jump}; the timer wheel was rebuilt.")]
    public static partial void ClockJumped(ILogger logger, TimeSpan jump);

    [LoggerMessage(11, LogLevel.Warning, "Run {RunId} of {Workflow} was interrupted by shutdown and released for a later retry.")]
    public static partial void RunReleased(ILogger logger, Guid runId, string workflow);

    [LoggerMessage(12, LogLevel.Error, "Recording the outcome of run {RunId} failed; its lease will expire and it will be retried.")]
    public static partial void CompletionFailed(ILogger logger, Exception exception, Guid runId);

    [LoggerMessage(13, LogLevel.Warning, "Released {Count} runs that instance {InstanceId} held when it stopped without finishing them; they run again now.")]
    public static partial void OwnedReleased(ILogger logger, int count, string instanceId);

    [LoggerMessage(28, LogLevel.Warning, "Released {Count} runs that scheduler {InstanceId} held when its process, on this machine, ended without finishing them; they run again now.")]
    public static partial void GoneOwnerReleased(ILogger logger, int count, string instanceId);

    [LoggerMessage(14, LogLevel.Warning, "Runs of workflow {Workflow} are due but it is not defined in this process; they stay pending for an instance that defines it.")]
    public static partial void UnknownWorkflow(ILogger logger, string workflow);

    [LoggerMessage(15, LogLevel.Warning, "No workflows were found: nothing will run. Scanned: {Assemblies}. Methods marked [Workflow] or [Scheduled] in other assemblies are not seen: add them with SchedulingOptions.Assemblies.Add(typeof(SomeType).Assembly), list their classes in SchedulingOptions.WorkflowTypes, or register methods with SchedulingOptions.AddWorkflow.")]
    public static partial void NoWorkflows(ILogger logger, string assemblies);

    [LoggerMessage(16, LogLevel.Warning, "The store failed at start-up (unreachable or locked); the scheduler starts and retries with back-off.")]
    public static partial void StoreFailingAtStart(ILogger logger, Exception exception);

    [LoggerMessage(17, LogLevel.Information, "Scheduler started to schedule only (SchedulingOptions.ExecuteRuns is false): {WorkflowCount} workflows known, none executed in this process.")]
    public static partial void ClientOnly(ILogger logger, int workflowCount);

    [LoggerMessage(18, LogLevel.Warning, "{Count} pending runs belong to workflows this process does not define ({Workflows}): they will not run here. List them with RunQuery.OrphanedOnly and purge them with BulkDeleteAsync, or deploy the code that defines them.")]
    public static partial void OrphanedRuns(ILogger logger, int count, string workflows);

    [LoggerMessage(19, LogLevel.Debug, "Run {RunId} of {Workflow} succeeded in {Duration}.")]
    public static partial void RunSucceeded(ILogger logger, Guid runId, string workflow, TimeSpan duration);

    [LoggerMessage(20, LogLevel.Warning, "Schedule {Schedule} runs workflow {Workflow}, which this process does not define (its code was removed or renamed): no occurrence is created or run here.")]
    public static partial void ScheduleWithoutWorkflow(ILogger logger, string schedule, string workflow);

    [LoggerMessage(21, LogLevel.Error, "Schedule {Schedule} has a stored definition this process cannot read; it is left alone.")]
    public static partial void ScheduleUnreadable(ILogger logger, Exception exception, string schedule);

    [LoggerMessage(22, LogLevel.Warning, "The [Scheduled] schedule of {Workflow} is not applied: a schedule made at run time holds the id {Workflow}. Delete that schedule, or rename the workflow.")]
    public static partial void CodeScheduleShadowed(ILogger logger, string workflow);

    [LoggerMessage(23, LogLevel.Warning, "Counting the pending runs of workflows this process does not define failed; it is tried again in an hour.")]
    public static partial void OrphanCountFailed(ILogger logger, Exception exception);

    // Information, not a warning: the schedule was paused on purpose (event 7 is for what fell due while nothing ran).
    [LoggerMessage(24, LogLevel.Information, "Schedule {Schedule}: {Dropped} occurrences that fell due while it was paused, between {From:O} and {To:O}, were not run (policy {Policy}).")]
    public static partial void OccurrencesMissedWhilePaused(ILogger logger, string schedule, long dropped, DateTimeOffset from, DateTimeOffset to, CatchUpPolicy policy);

    [LoggerMessage(25, LogLevel.Debug, "Occurrence {RunId} of schedule {Schedule} was claimed before the schedule was paused or deleted here; it was handed back, not started.")]
    public static partial void OccurrenceHeld(ILogger logger, Guid runId, string schedule);

    [LoggerMessage(26, LogLevel.Debug, "Run {RunId} of schedule {Schedule} waits under overlap policy {Policy}: a run of the schedule is running on another instance.")]
    public static partial void RunWaitsForAnotherInstance(ILogger logger, Guid runId, string schedule, OverlapPolicy policy);
}
