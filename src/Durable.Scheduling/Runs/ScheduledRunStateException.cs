namespace Durable.Scheduling;

/// <summary>
/// A run cannot be changed in its current state: it has triggered (is running or ended) and can no longer be
/// rescheduled, or is running and cannot be deleted. A run that does not exist at all is reported by
/// <see cref="IScheduler"/> as <see cref="ScheduledRunNotFoundException"/> instead (stores report both kinds here, in
/// <see cref="Refused"/>).
/// </summary>
public sealed class ScheduledRunStateException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ScheduledRunStateException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What was refused and why.</param>
    public ScheduledRunStateException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    /// <param name="message">What was refused and why.</param>
    /// <param name="innerException">The cause.</param>
    public ScheduledRunStateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>
    /// Creates the exception for the runs refused; for store implementations, which must report every refused run.
    /// </summary>
    /// <param name="refused">Each refused run with its status (null when it does not exist).</param>
    /// <param name="action">What was refused, as a verb phrase ("reschedule", "delete").</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public ScheduledRunStateException(IReadOnlyList<RunRefusal> refused, string action)
        : base(Describe(refused ?? throw new ArgumentNullException(nameof(refused)), action ?? throw new ArgumentNullException(nameof(action))))
    {
        Refused = refused;
    }

    /// <summary>The runs refused, with their status (null when the run does not exist).</summary>
    public IReadOnlyList<RunRefusal> Refused { get; } = [];

    private static string Describe(IReadOnlyList<RunRefusal> refused, string action) =>
        $"Cannot {action}: " + string.Join("; ", refused.Take(20).Select(r => r.Status is null
            ? $"run {r.Id} does not exist"
            : $"run {r.Id} is {r.Status} (only a pending run can be changed)")) + (refused.Count > 20 ? $"; and {refused.Count - 20} more" : "") + ".";
}
