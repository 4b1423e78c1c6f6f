namespace Durable.Scheduling;

/// <summary>
/// The run (or every refused run of a bulk call) does not exist: deleted, purged, or never stored. Distinct from
/// <see cref="ScheduledRunStateException"/> (the run exists but its state forbids the change), so that an API can
/// answer 404 for this one and 409 for that one.
/// </summary>
public sealed class ScheduledRunNotFoundException : KeyNotFoundException
{
    /// <summary>Creates the exception.</summary>
    public ScheduledRunNotFoundException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What was not found.</param>
    public ScheduledRunNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    /// <param name="message">What was not found.</param>
    /// <param name="innerException">The cause.</param>
    public ScheduledRunNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for runs that do not exist.</summary>
    /// <param name="runIds">The ids not found.</param>
    /// <param name="action">What was refused, as a verb ("reschedule").</param>
    /// <param name="innerException">The cause, or null.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public ScheduledRunNotFoundException(IReadOnlyList<Guid> runIds, string action, Exception? innerException = null)
        : base($"Cannot {action ?? throw new ArgumentNullException(nameof(action))}: " +
               string.Join(", ", (runIds ?? throw new ArgumentNullException(nameof(runIds))).Take(20).Select(id => $"run {id}")) +
               (runIds.Count > 20 ? $" and {runIds.Count - 20} more" : "") + (runIds.Count == 1 ? " does not exist." : " do not exist."), innerException)
    {
        RunIds = runIds;
    }

    /// <summary>The ids of the runs that do not exist.</summary>
    public IReadOnlyList<Guid> RunIds { get; } = [];
}
