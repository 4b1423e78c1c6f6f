using System.Globalization;

namespace Durable.Scheduling.Storage;

/// <summary>
/// The opaque keyset tokens the built-in stores hand out for paging: <c>ticks.guid</c>, resuming strictly after a
/// (time, id) pair. A store may use them for <see cref="ISchedulingStore.GetDueAsync"/> and
/// <see cref="ISchedulingStore.ListAsync"/>, or hand out tokens of its own (callers treat tokens as opaque).
/// </summary>
public static class ContinuationTokens
{
    /// <summary>Makes the token that resumes strictly after the run <paramref name="id"/> at <paramref name="ticks"/>.</summary>
    /// <param name="ticks">The UTC ticks of the last item's sort time.</param>
    /// <param name="id">The last item's run id.</param>
    /// <returns>The token.</returns>
    public static string Encode(long ticks, Guid id) => ticks.ToString(CultureInfo.InvariantCulture) + "." + id.ToString("N");

    /// <summary>Reads a token; null means "from the start" (<see cref="long.MinValue"/>, <see cref="Guid.Empty"/>).</summary>
    /// <param name="token">The token, or null.</param>
    /// <returns>The (ticks, id) pair to resume after.</returns>
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
