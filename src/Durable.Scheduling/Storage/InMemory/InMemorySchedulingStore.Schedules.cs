using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Durable.Scheduling.Storage.InMemory;

// Recurring schedules (kept by InMemorySchedules) and their watermarks.
public sealed partial class InMemorySchedulingStore
{
    /// <inheritdoc />
    public ValueTask<DateTimeOffset?> GetWatermarkAsync(string schedule, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(TryGetWatermark(schedule, out long ticks) ? new DateTimeOffset(ticks, TimeSpan.Zero) : null);
        }
    }

    /// <inheritdoc />
    public ValueTask AdvanceWatermarkAsync(string schedule, DateTimeOffset value, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            Advance(schedule, value.UtcTicks);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>A watermark: a spec's is kept in its schedule's entry, a plain one in a table of its own; under the lock.</summary>
    private bool TryGetWatermark(string schedule, out long ticks) =>
        WatermarkNames.TryParseSpecTicks(schedule, out ReadOnlySpan<char> id, out long since)
            ? _schedules.TryGetSpecWatermark(id, since, out ticks)
            : _watermarks.TryGetValue(schedule, out ticks);

    /// <summary>Moves a watermark forward (never back); under the lock.</summary>
    private void Advance(string schedule, long ticks)
    {
        if (WatermarkNames.TryParseSpecTicks(schedule, out ReadOnlySpan<char> id, out long since))
        {
            _schedules.AdvanceSpecWatermark(id, since, ticks);
            return;
        }

        ref long stored = ref CollectionsMarshal.GetValueRefOrAddDefault(_watermarks, schedule, out bool exists);
        if (!exists || ticks > stored)
        {
            stored = ticks;
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyDictionary<string, DateTimeOffset>> GetWatermarksAsync(IReadOnlyCollection<string> schedules, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedules);
        cancellationToken.ThrowIfCancellationRequested();
        var found = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (string schedule in schedules)
            {
                if (TryGetWatermark(schedule, out long ticks))
                {
                    found[schedule] = new DateTimeOffset(ticks, TimeSpan.Zero);
                }
            }
        }

        return new(found);
    }

    /// <inheritdoc />
    public ValueTask AdvanceWatermarksAsync(IReadOnlyList<KeyValuePair<string, DateTimeOffset>> values, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(values);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            foreach (var (schedule, value) in values)
            {
                Advance(schedule, value.UtcTicks);
            }
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> CreateScheduleAsync(StoredSchedule schedule, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(_schedules.Create(schedule));
        }
    }

    /// <inheritdoc />
    public ValueTask<StoredSchedule?> GetScheduleAsync(string id, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(_schedules.Get(id));
        }
    }

    /// <inheritdoc />
    public ValueTask<StoredSchedulePage> ListSchedulesAsync(ScheduleQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(_schedules.List(query));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<StoredSchedule>> GetScheduleChangesAsync(long afterSequence, int limit, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(_schedules.ChangesAfter(afterSequence, limit));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> UpdateScheduleAsync(StoredSchedule schedule, long expectedVersion, bool setRemainingRuns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(_schedules.Update(schedule, expectedVersion, setRemainingRuns));
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteScheduleAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            return new(_schedules.Delete(id, at));
        }
    }

    /// <inheritdoc />
    public ValueTask AddScheduleCountsAsync(IReadOnlyList<ScheduleCountChange> changes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(changes);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            foreach (var change in changes)
            {
                _schedules.AddCounts(change.ScheduleId, change.Delta, change.UsedRuns);
            }
        }

        return ValueTask.CompletedTask;
    }
}
