using System.Globalization;

namespace Durable.Scheduling.Storage;

/// <summary>The fixed formats of idempotency keys; each run kind has its own key space.</summary>
public static class RunKeys
{
    /// <summary><c>schedule@yyyy-MM-ddTHH:mm:ss.fffffffZ</c>: an occurrence of a recurring schedule (a code-defined one's id is its workflow's name).</summary>
    public static string Occurrence(string schedule, DateTimeOffset instant) =>
        schedule + "@" + instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary><c>schedule!key</c>: a triggered run of a recurring schedule, with the caller's key or the run id.</summary>
    public static string Triggered(string schedule, string? callerKey, Guid id) =>
        schedule + "!" + (callerKey ?? id.ToString("N"));

    /// <summary><c>workflow#key</c>: a one-time run, with the caller's key or the run id.</summary>
    public static string OneTime(string workflow, string? callerKey, Guid id) =>
        workflow + "#" + (callerKey ?? id.ToString("N"));
}
