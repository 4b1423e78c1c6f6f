namespace Durable.Scheduling.Storage.InMemory;

// Leases after the claim: renewal, release for a retry or a stop, a claim undone, and an instance's leases freed or
// listed. The claim and the completion (the per-run paths) are in the main file.
public sealed partial class InMemorySchedulingStore
{
    /// <inheritdoc />
    public ValueTask<bool> RenewAsync(Guid id, Guid leaseToken, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ref var slot = ref Leased(id, leaseToken);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot))
            {
                return new(false);
            }

            _leases[id] = _leases[id] with { Expires = expiresAt.UtcTicks };
            return new(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> ReleaseAsync(Guid id, Guid leaseToken, DateTimeOffset dueTime, RunError? failure, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ref var slot = ref TakeLease(id, leaseToken);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot))
            {
                return new(false);
            }

            SetStatus(id, ref slot, RunStatus.Pending);
            slot.Due = dueTime.UtcTicks;
            if (failure is not null)
            {
                SetError(id, ref slot, failure);
            }

            AddDue(slot, id);
            return new(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> UnclaimAsync(Guid id, Guid leaseToken, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            ref var slot = ref TakeLease(id, leaseToken);
            if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref slot))
            {
                return new(false);
            }

            SetStatus(id, ref slot, RunStatus.Pending);
            if (slot.Attempt > 0 && --slot.Attempt == 0)
            {
                slot.Started = 0;
                if (ImpliedScheduleOf(slot) is { } schedule)
                {
                    _schedules.UncountStarted(schedule);
                }
            }

            AddDue(slot, id);
            return new(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<int> ReleaseOwnedAsync(string owner, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            var owned = _leases.Where(l => l.Value.Owner == owner).Select(l => l.Key).ToList();
            foreach (var id in owned)
            {
                ref var slot = ref _runs.Find(id);
                SetStatus(id, ref slot, RunStatus.Pending);
                _leases.Remove(id);
                AddDue(slot, id);
            }

            return new(owned.Count);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> GetLeaseOwnersAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new([.. _leases.Values.Select(l => l.Owner).Distinct(StringComparer.Ordinal)]);
        }
    }
}
