using System.Globalization;

namespace Durable.Scheduling;

/// <summary>
/// The opaque keyset tokens the built-in stores hand out for paging: <c>ticks.guid</c>, resuming strictly after a
/// (time, id) pair.
/// </summary>
internal static class ContinuationTokens
{
    public static string Encode(long ticks, Guid id) => ticks.ToString(CultureInfo.InvariantCulture) + "." + id.ToString("N");

    /// <summary>Reads a token; null means "from the start".</summary>
    /// <exception cref="ArgumentException">The token was not issued by a built-in store.</exception>
    public static (long Ticks, Guid Id) Decode(string? token)
    {
        if (token is null)
        {
            return (long.MinValue, Guid.Empty);
        }

        int dot = token.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0 || !long.TryParse(token.AsSpan(0, dot), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long ticks) ||
            !Guid.TryParseExact(token.AsSpan(dot + 1), "N", out var id))
        {
            throw new ArgumentException($"'{token}' is not a continuation token of this store.", nameof(token));
        }

        return (ticks, id);
    }
}
