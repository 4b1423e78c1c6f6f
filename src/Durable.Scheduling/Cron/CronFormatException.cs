namespace Durable.Scheduling;

/// <summary>
/// The one exception thrown for a cron expression that cannot be parsed. Its message names the field
/// (<c>Seconds</c>, <c>Minutes</c>, <c>Hours</c>, <c>Days of month</c>, <c>Months</c>, <c>Days of week</c>) and
/// quotes the offending text; <see cref="Field"/> names the field alone.
/// </summary>
public sealed class CronFormatException : FormatException
{
    /// <summary>Creates an exception with a default message.</summary>
    public CronFormatException()
        : base("The cron expression is invalid.")
    {
    }

    /// <summary>Creates an exception with the given message.</summary>
    /// <param name="message">What is wrong, naming the field and quoting the text.</param>
    public CronFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with the given message and inner exception.</summary>
    /// <param name="message">What is wrong, naming the field and quoting the text.</param>
    /// <param name="innerException">The exception that caused this one.</param>
    public CronFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal CronFormatException(string? field, string message, Exception? innerException)
        : base(field is null ? message : field + ": " + message, innerException)
    {
        Field = field;
    }

    /// <summary>
    /// The name of the offending field (for example <c>"Days of week"</c>), or <see langword="null"/> when the
    /// problem is the expression as a whole (empty, wrong field count, unknown macro).
    /// </summary>
    public string? Field { get; }
}
