namespace Durable.Scheduling;

/// <summary>
/// A schedule's spec or definition is invalid: thrown by create, update and preview before anything is stored.
/// <see cref="Field"/> names the offending part (<c>Spec.Cron[1]</c>, <c>Spec.TimeZone</c>, <c>WorkflowName</c>).
/// </summary>
public sealed class ScheduleSpecException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public ScheduleSpecException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What is wrong.</param>
    public ScheduleSpecException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    /// <param name="message">What is wrong.</param>
    /// <param name="innerException">The cause.</param>
    public ScheduleSpecException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a field.</summary>
    /// <param name="field">The offending part, as a path (<c>Spec.Intervals[0]</c>).</param>
    /// <param name="message">What is wrong with it.</param>
    /// <param name="innerException">The cause, or null.</param>
    public ScheduleSpecException(string field, string message, Exception? innerException = null)
        : base($"{field}: {message}", field, innerException)
    {
        Field = field;
    }

    /// <summary>The offending part, as a path (<c>Spec.Cron[1]</c>), or null.</summary>
    public string? Field { get; }
}
