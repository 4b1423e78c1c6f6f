namespace Durable.Scheduling.Engine.Execution;

/// <summary>Where an attempt hands the outcome of a run that ended (the completion writer: group commit).</summary>
internal interface IOutcomeWriter
{
    /// <summary>Queues the outcome for writing; writes it now unless this thread runs a batch of runs (which writes at its end).</summary>
    void Complete(RunExecution execution, RunStatus status, DateTimeOffset completedAt, RunError? error);

    /// <summary>Writes the queued outcomes unless a writer is at work (then that writer takes them).</summary>
    void WriteQueued();
}
