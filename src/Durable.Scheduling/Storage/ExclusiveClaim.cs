namespace Durable.Scheduling.Storage;

/// <summary>What <see cref="ISchedulingStore.ClaimExclusiveAsync"/> did.</summary>
/// <param name="Lease">The lease won, or null when the run was not claimed.</param>
/// <param name="Busy">
/// True when the run was claimable but not claimed because another run of its schedule is running under a live lease;
/// false when it was claimed, or is not claimable at all (absent, not due, held by a live lease, ended, an occurrence of
/// a paused or deleted schedule).
/// </param>
public readonly record struct ExclusiveClaim(RunLease? Lease, bool Busy)
{
    /// <summary>Not claimed, and not claimable.</summary>
    public static ExclusiveClaim NotClaimable => default;

    /// <summary>Not claimed: another run of its schedule is running.</summary>
    public static ExclusiveClaim ScheduleBusy => new(null, true);
}
