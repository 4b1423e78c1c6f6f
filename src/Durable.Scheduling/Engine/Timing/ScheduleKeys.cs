namespace Durable.Scheduling.Engine.Timing;

/// <summary>Which schedule's overlap policy and slots a run counts against.</summary>
internal static class ScheduleKeys
{
    /// <summary>
    /// The schedule of a run of a recurring schedule (an occurrence stored without one belongs to the code-defined
    /// schedule named after its workflow); null for a one-time run.
    /// </summary>
    public static string? Of(RunKind kind, string? schedule, string workflow) =>
        kind == RunKind.OneTime ? null : schedule ?? (kind == RunKind.Occurrence ? workflow : null);
}
