namespace Durable.Scheduling;

/// <summary>Why a run failed: the exception's type and message (never its data or the run's input).</summary>
/// <param name="Type">The full name of the exception type, for example <c>System.TimeoutException</c>.</param>
/// <param name="Message">The exception message.</param>
public sealed record RunError(string Type, string Message);
