using Microsoft.Extensions.Time.Testing;

namespace Durable.Scheduling.Tests.Testing;

/// <summary>
/// Microsoft's <see cref="FakeTimeProvider"/>, plus the two things a harness stepping through days needs: when the next
/// timer is due (so it can step from timer to timer instead of by a fixed quantum) and a wall clock that can jump back
/// (the fake only moves forward; a jump back moves the wall clock, as on a real machine, while timers keep their
/// monotonic course). Time itself, timer firing and ordering are the fake's.
/// </summary>
public sealed class SteppedClock : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly HashSet<TrackedTimer> _timers = [];
    private long _wallOffsetTicks;

    public SteppedClock(DateTimeOffset start)
    {
        Fake = new FakeTimeProvider(start);
    }

    /// <summary>The underlying fake clock (timers run on it).</summary>
    public FakeTimeProvider Fake { get; }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow().AddTicks(Interlocked.Read(ref _wallOffsetTicks));

    public override long GetTimestamp() => Fake.GetTimestamp();

    /// <summary>The earliest wall-clock instant a timer is due, or null when none is armed.</summary>
    public DateTimeOffset? NextTimerDue
    {
        get
        {
            lock (_gate)
            {
                DateTimeOffset? next = null;
                foreach (var timer in _timers)
                {
                    if (timer.Due is { } due && (next is null || due < next))
                    {
                        next = due;
                    }
                }

                return next?.AddTicks(Interlocked.Read(ref _wallOffsetTicks));
            }
        }
    }

    public void Advance(TimeSpan by) => SetUtcNow(GetUtcNow() + by);

    /// <summary>
    /// Moves the wall clock. Forward, the fake clock advances and fires the timers due by then; backward (a wall-clock
    /// jump), only the wall clock moves.
    /// </summary>
    public void SetUtcNow(DateTimeOffset value)
    {
        var now = GetUtcNow();
        if (value >= now)
        {
            Fake.SetUtcNow(value.AddTicks(-Interlocked.Read(ref _wallOffsetTicks)));
        }
        else
        {
            Interlocked.Add(ref _wallOffsetTicks, (value - now).Ticks);
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var tracked = new TrackedTimer(this, callback, state);
        lock (_gate)
        {
            _timers.Add(tracked);
        }

        tracked.Start(dueTime, period);
        return tracked;
    }

    private sealed class TrackedTimer(SteppedClock clock, TimerCallback callback, object? state) : ITimer
    {
        private ITimer? _inner;
        private TimeSpan _period;

        /// <summary>When it next fires on the fake clock, or null when disarmed.</summary>
        public DateTimeOffset? Due { get; private set; }

        public void Start(TimeSpan dueTime, TimeSpan period)
        {
            Arm(dueTime, period);
            _inner = clock.Fake.CreateTimer(static s => ((TrackedTimer)s!).Fire(), this, dueTime, period);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Arm(dueTime, period);
            return _inner!.Change(dueTime, period);
        }

        public void Dispose()
        {
            lock (clock._gate)
            {
                clock._timers.Remove(this);
                Due = null;
            }

            _inner?.Dispose();
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        private void Arm(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._gate)
            {
                _period = period;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : clock.Fake.GetUtcNow() + dueTime;
            }
        }

        private void Fire()
        {
            lock (clock._gate)
            {
                Due = _period == Timeout.InfiniteTimeSpan || _period == TimeSpan.Zero ? null : clock.Fake.GetUtcNow() + _period;
            }

            callback(state);
        }
    }
}
