namespace Durable.Scheduling;

/// <summary>What created a run; each kind has its own idempotency key space.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<RunKind>))]
public enum RunKind : byte
{
    /// <summary>An occurrence of a recurring schedule; key <c>workflow@yyyy-MM-ddTHH:mm:ss.fffffffZ</c>.</summary>
    Occurrence = 0,

    /// <summary>A one-time run from <c>ScheduleAsync</c>; key <c>workflow#key</c> (the caller's key, or the run id).</summary>
    OneTime = 1,
}
