namespace Durable.Scheduling;

/// <summary>One fire time of a spec, as a preview reports it.</summary>
/// <param name="Instant">The instant (UTC): the occurrence's scheduled time and idempotency key.</param>
/// <param name="LocalTime">The same instant in the spec's zone (with that zone's offset then).</param>
/// <param name="Dst">What daylight saving time did to this occurrence.</param>
public readonly record struct FireTime(DateTimeOffset Instant, DateTimeOffset LocalTime, FireTimeDst Dst);

/// <summary>What daylight saving time did to a fire time.</summary>
public enum FireTimeDst
{
    /// <summary>Nothing: the local time exists once.</summary>
    None = 0,

    /// <summary>The local time wanted falls in a spring-forward gap (does not exist): the occurrence fires once, when the gap ends.</summary>
    MovedByGap = 1,

    /// <summary>The local time occurs twice (fall-back overlap) and the spec fires in both passes: this is one of the two.</summary>
    RepeatedInOverlap = 2,
}
