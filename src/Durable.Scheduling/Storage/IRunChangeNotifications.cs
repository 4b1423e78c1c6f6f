namespace Durable.Scheduling.Storage;

/// <summary>
/// Optional for an <see cref="ISchedulingStore"/> that several processes share: it tells a scheduler at once when
/// another process added or moved runs, so that a run scheduled elsewhere and due now starts within milliseconds
/// rather than at the next poll. The scheduler subscribes when it starts (if its store implements this interface)
/// and still polls every <see cref="SchedulingOptions.PollInterval"/>, so a lost notification only delays a run.
/// </summary>
public interface IRunChangeNotifications
{
    /// <summary>
    /// Calls <paramref name="changed"/> whenever another process added, rescheduled or released runs, until the
    /// returned object is disposed, with the earliest due time among those runs (<see cref="DateTimeOffset.MinValue"/>
    /// when it is not known, for example after notifications may have been lost). The callback may come from any
    /// thread and must not block. The scheduler reads the store again when such a run falls due before its next poll
    /// would load it, at most every few milliseconds however many notifications come.
    /// </summary>
    /// <param name="changed">What to call, with the earliest due time of the runs changed.</param>
    /// <returns>Ends the subscription when disposed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="changed"/> is null.</exception>
    IDisposable Subscribe(Action<DateTimeOffset> changed);
}
