namespace Durable.Scheduling;

/// <summary>No schedule has that id (HTTP 404).</summary>
public sealed class ScheduleNotFoundException : KeyNotFoundException
{
    /// <summary>Creates the exception.</summary>
    public ScheduleNotFoundException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public ScheduleNotFoundException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ScheduleNotFoundException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal static ScheduleNotFoundException For(string id) => new($"No schedule '{id}' exists.") { ScheduleId = id };

    /// <summary>The id asked for.</summary>
    public string? ScheduleId { get; private init; }
}

/// <summary>
/// A schedule operation cannot be done in the schedule's state (HTTP 409): <see cref="Reason"/> says which.
/// </summary>
public sealed class ScheduleStateException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ScheduleStateException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">The message.</param>
    public ScheduleStateException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public ScheduleStateException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal ScheduleStateException(string id, ScheduleRefusal reason, string message)
        : base(message)
    {
        ScheduleId = id;
        Reason = reason;
    }

    /// <summary>The schedule.</summary>
    public string? ScheduleId { get; }

    /// <summary>Why it was refused.</summary>
    public ScheduleRefusal Reason { get; }
}

/// <summary>Why a schedule operation was refused.</summary>
public enum ScheduleRefusal
{
    /// <summary>Create: a schedule with that id exists (use create-or-update to change it).</summary>
    AlreadyExists = 0,

    /// <summary>Update or delete of a schedule defined in code: change the <c>[Scheduled]</c> attribute instead.</summary>
    CodeDefined = 1,

    /// <summary>Update: the schedule kept changing under the callback (every retry met a newer version).</summary>
    Conflict = 2,
}
