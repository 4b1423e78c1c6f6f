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
    /// returned object is disposed. The callback may come from any thread, must not block, and carries no details:
    /// the scheduler reads the store again.
    /// </summary>
    /// <param name="changed">What to call.</param>
    /// <returns>Ends the subscription when disposed.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="changed"/> is null.</exception>
    IDisposable Subscribe(Action changed);
}
