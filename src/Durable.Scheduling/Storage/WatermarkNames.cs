using System.Globalization;

namespace Durable.Scheduling.Storage;

/// <summary>
/// The names of watermarks (<see cref="ISchedulingStore.GetWatermarkAsync"/>). A recurring schedule's watermark belongs
/// to its current spec, <c>{id}~{ticks}</c>: the schedule's id, then the UTC ticks of the instant that spec took effect
/// (<see cref="StoredSchedule.SpecSince"/>), so a changed spec starts afresh. Schedule ids and workflow names never hold
/// '~', so every other name is a plain one (a code-defined schedule still on the spec it was first stored with uses its
/// id alone, as before schedules were stored).
/// </summary>
/// <remarks>
/// A store keeps a spec's watermark only while that spec is its schedule's current one: see
/// <see cref="ISchedulingStore.AdvanceWatermarkAsync"/>. Thread-safe (no state).
/// </remarks>
public static class WatermarkNames
{
    /// <summary>The separator between a schedule's id and its spec's instant.</summary>
    public const char Separator = '~';

    /// <summary>The watermark name of the spec of <paramref name="scheduleId"/> that took effect at <paramref name="specSince"/>.</summary>
    /// <param name="scheduleId">The schedule's id.</param>
    /// <param name="specSince">When the spec took effect (<see cref="StoredSchedule.SpecSince"/>).</param>
    /// <returns><c>{id}~{UTC ticks}</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scheduleId"/> is null.</exception>
    public static string OfSpec(string scheduleId, DateTimeOffset specSince)
    {
        ArgumentNullException.ThrowIfNull(scheduleId);
        return OfSpecTicks(scheduleId, specSince.UtcTicks);
    }

    /// <summary>Reads a name made by <see cref="OfSpec(string, DateTimeOffset)"/>.</summary>
    /// <param name="name">A watermark name.</param>
    /// <param name="scheduleId">The schedule's id, when it is a spec's name.</param>
    /// <param name="specSince">When the spec took effect, when it is a spec's name.</param>
    /// <returns>False for a plain name (no '~', or not followed by the ticks as <see cref="OfSpec(string, DateTimeOffset)"/> writes them).</returns>
    public static bool TryParseSpec(string? name, out ReadOnlySpan<char> scheduleId, out DateTimeOffset specSince)
    {
        if (TryParseSpecTicks(name, out scheduleId, out long ticks))
        {
            specSince = new DateTimeOffset(ticks, TimeSpan.Zero);
            return true;
        }

        specSince = default;
        return false;
    }

    /// <summary>
    /// The name of a stored schedule's current watermark, as its planner names it: its spec's, or just its id for a
    /// code-defined schedule still on the spec it was first stored with.
    /// </summary>
    internal static string Of(StoredSchedule schedule) =>
        schedule.CodeDefined && schedule.SpecSince == schedule.CreatedAt ? schedule.Id : OfSpecTicks(schedule.Id, schedule.SpecSince.UtcTicks);

    internal static string OfSpecTicks(string scheduleId, long specSinceTicks) =>
        string.Concat(scheduleId, "~", specSinceTicks.ToString(CultureInfo.InvariantCulture));

    internal static bool TryParseSpecTicks(string? name, out ReadOnlySpan<char> scheduleId, out long specSinceTicks)
    {
        scheduleId = default;
        specSinceTicks = 0;
        int at = name?.IndexOf(Separator, StringComparison.Ordinal) ?? -1;
        if (name is null || at <= 0)
        {
            return false;
        }

        var digits = name.AsSpan(at + 1);
        // As OfSpec writes them: digits only, no leading zero, within the range of instants.
        if (digits.Length == 0 || (digits[0] == '0' && digits.Length > 1) || digits.ContainsAnyExceptInRange('0', '9') ||
            !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) || ticks > DateTimeOffset.MaxValue.UtcTicks)
        {
            return false;
        }

        scheduleId = name.AsSpan(0, at);
        specSinceTicks = ticks;
        return true;
    }
}
