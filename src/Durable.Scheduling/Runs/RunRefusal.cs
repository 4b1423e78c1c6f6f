namespace Durable.Scheduling;

/// <summary>A run an operation refused to change, and why: its status, or null when no such run exists.</summary>
/// <param name="Id">The run id.</param>
/// <param name="Status">Its status when refused (for example <see cref="RunStatus.Running"/>), or null when absent.</param>
public readonly record struct RunRefusal(Guid Id, RunStatus? Status);
