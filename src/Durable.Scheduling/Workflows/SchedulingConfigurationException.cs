namespace Durable.Scheduling;

/// <summary>
/// The workflows or options are misconfigured. Thrown at host start-up, with one line per problem, so that every bad
/// method is reported at once.
/// </summary>
public sealed class SchedulingConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SchedulingConfigurationException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The problems.</param>
    public SchedulingConfigurationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and inner exception.</summary>
    /// <param name="message">The problems.</param>
    /// <param name="innerException">The cause.</param>
    public SchedulingConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal SchedulingConfigurationException(IReadOnlyList<string> problems)
        : base($"Durable.Scheduling found {problems.Count} problem(s) in the workflows:{Environment.NewLine}  - " + string.Join(Environment.NewLine + "  - ", problems))
    {
        Problems = problems;
    }

    /// <summary>Each problem, naming the method and why.</summary>
    public IReadOnlyList<string> Problems { get; } = [];
}
