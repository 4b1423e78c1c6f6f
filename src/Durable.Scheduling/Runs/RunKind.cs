namespace Durable.Scheduling;

/// <summary>What created a run; each kind has its own idempotency key space.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<RunKind>))]
public enum RunKind : byte
{
    /// <summary>An occurrence of a recurring schedule; key <c>schedule@yyyy-MM-ddTHH:mm:ss.fffffffZ</c> (a code-defined schedule's id is its workflow's name).</summary>
    Occurrence = 0,

    /// <summary>A one-time run from <c>ScheduleAsync</c>; key <c>workflow#key</c> (the caller's key, or the run id).</summary>
    OneTime = 1,

    /// <summary>A run of a recurring schedule triggered by hand (<see cref="ISchedules.TriggerAsync"/>); key <c>schedule!key</c> (the caller's key, or the run id).</summary>
    Triggered = 2,

    /// <summary>
    /// A fire time of a recurring schedule run by a backfill (<see cref="ISchedules.BackfillAsync"/>); key
    /// <c>schedule@instant</c>, the occurrence's own (so it runs once), or <c>schedule@instant~backfill</c> when the
    /// occurrence had been skipped.
    /// </summary>
    Backfill = 3,
}
