using System.Runtime.CompilerServices;

namespace Durable.Scheduling.Storage;

/// <summary>
/// The planning lock of a store object used by one process (<see cref="ISchedulingStore.EnterPlanningAsync"/>): a
/// semaphore of one kept beside the store for as long as the store lives.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "Lives as long as its store; a SemaphoreSlim whose wait handle is never asked for holds nothing to release.")]
internal sealed class PlanningLocks
{
    private static readonly ConditionalWeakTable<object, PlanningLocks> s_locks = [];
    private readonly SemaphoreSlim _lock = new(1, 1);

    /// <summary>The lock of <paramref name="store"/>.</summary>
    public static PlanningLocks Of(object store) => s_locks.GetValue(store, static _ => new PlanningLocks());

    /// <summary>Waits for the lock; disposing the result releases it.</summary>
    public async ValueTask<IAsyncDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Held(_lock);
    }

    /// <summary>A held lock, released once.</summary>
    private sealed class Held(SemaphoreSlim held) : IAsyncDisposable
    {
        private SemaphoreSlim? _held = held;

        public ValueTask DisposeAsync()
        {
            Interlocked.Exchange(ref _held, null)?.Release();
            return ValueTask.CompletedTask;
        }
    }
}
