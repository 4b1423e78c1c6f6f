using System.Globalization;

namespace Durable.Scheduling.Storage;

/// <summary>The fixed formats of idempotency keys; each run kind has its own key space.</summary>
public static class RunKeys
{
    /// <summary><c>workflow@yyyy-MM-ddTHH:mm:ss.fffffffZ</c>: an occurrence of a recurring schedule.</summary>
    public static string Occurrence(string workflow, DateTimeOffset instant) =>
        workflow + "@" + instant.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary><c>workflow#key</c>: a one-time run, with the caller's key or the run id.</summary>
    public static string OneTime(string workflow, string? callerKey, Guid id) =>
        workflow + "#" + (callerKey ?? id.ToString("N"));
}
