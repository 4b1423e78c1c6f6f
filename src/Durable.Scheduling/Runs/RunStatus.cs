namespace Durable.Scheduling;

/// <summary>Where a run is in its life.</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<RunStatus>))]
public enum RunStatus : byte
{
    /// <summary>Waiting for its due time (or for a retry, or in an overlap buffer). Can be rescheduled and deleted.</summary>
    Pending = 0,

    /// <summary>Claimed under a lease and executing. Cannot be rescheduled or deleted.</summary>
    Running = 1,

    /// <summary>The handler returned normally.</summary>
    Succeeded = 2,

    /// <summary>The last attempt threw or timed out; <see cref="ScheduledRun.Error"/> says why.</summary>
    Failed = 3,

    /// <summary>The run was cancelled by <see cref="OverlapPolicy.CancelOther"/>.</summary>
    Cancelled = 4,

    /// <summary>The occurrence was not run because of the schedule's <see cref="OverlapPolicy"/>.</summary>
    Skipped = 5,
}
