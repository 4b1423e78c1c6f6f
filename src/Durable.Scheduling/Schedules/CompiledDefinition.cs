namespace Durable.Scheduling.Schedules;

/// <summary>
/// A schedule's stored definition as read, with its spec compiled: what the API already holds after validating, handed
/// to the loop with the change so the loop does not read and compile the same JSON again.
/// </summary>
/// <param name="Json">The definition as written to the store (the loop uses the rest only for a stored state that holds it).</param>
/// <param name="Document">The definition read.</param>
/// <param name="Spec">Its spec, compiled.</param>
internal sealed record CompiledDefinition(string Json, ScheduleDocument Document, CompiledSpec Spec);
