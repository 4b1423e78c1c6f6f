namespace Durable.Scheduling.Tests.Testing;

/// <summary>
/// A manual clock for tests (Microsoft.Extensions.TimeProvider.Testing is not available here): time moves only when
/// a test says so, and timers due by then fire synchronously, in due order, on the caller's thread.
/// </summary>
public sealed class FakeTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<FakeTimer> _timers = [];
    private DateTimeOffset _now;

    public FakeTimeProvider(DateTimeOffset start)
    {
        _now = start.ToUniversalTime();
    }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    /// <summary>The earliest instant a timer is due, or null when none is armed.</summary>
    public DateTimeOffset? NextTimerDue
    {
        get
        {
            lock (_lock)
            {
                return _timers.Where(t => t.Due is not null).Select(t => t.Due).Min();
            }
        }
    }

    public void Advance(TimeSpan by) => SetUtcNow(GetUtcNow() + by);

    /// <summary>Moves the clock (forward or, to simulate a wall-clock jump, backward) and fires timers now due.</summary>
    public void SetUtcNow(DateTimeOffset value)
    {
        lock (_lock)
        {
            _now = value.ToUniversalTime();
        }

        while (true)
        {
            FakeTimer? next;
            lock (_lock)
            {
                next = _timers.Where(t => t.Due <= _now).OrderBy(t => t.Due).FirstOrDefault();
                next?.Fired();
            }

            if (next is null)
            {
                return;
            }

            next.Callback(next.State);
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new FakeTimer(this, callback, state);
        lock (_lock)
        {
            _timers.Add(timer);
        }

        timer.Change(dueTime, period);
        return timer;
    }

    private sealed class FakeTimer(FakeTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private TimeSpan _period = Timeout.InfiniteTimeSpan;

        public TimerCallback Callback { get; } = callback;

        public object? State { get; } = state;

        public DateTimeOffset? Due { get; private set; }

        public void Fired() => Due = _period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero ? null : Due + _period;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                _period = period;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
            }

            if (dueTime == TimeSpan.Zero)
            {
                owner.SetUtcNow(owner.GetUtcNow());
            }

            return true;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                Due = null;
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
