using Durable.Scheduling.Schedules;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Engine.Schedules;

/// <summary>A recurring schedule as the loop keeps it: what it fires, its state, and how far its occurrences exist.</summary>
/// <remarks>
/// The loop keeps one per schedule, so its size counts: policies are kept in bytes and the flags in bits behind the
/// properties, what few schedules have (a catch-up window of their own, a limit, runs held while paused, an earlier
/// spec still to plan) in an object of its own, and the watermark's name is made when asked rather than kept.
/// </remarks>
internal sealed class PlannedSchedule
{
    private byte _catchUp;
    private byte _overlap;
    private Flags _flags;
    private RareState? _rare; // what few schedules ever have, kept out of the many that do not

    [Flags]
    private enum Flags : byte
    {
        Paused = 1,
        Limited = 2,
        CodeDefined = 4,
        FirstSpec = 8,
        Loaded = 16,
        Resumed = 32,
        Quiet = 64,
        Runnable = 128,
    }

    public required string Id { get; init; }

    public required string Workflow { get; init; }

    public required CompiledSpec Spec { get; init; }

    public required CatchUpPolicy CatchUp { get => (CatchUpPolicy)_catchUp; init => _catchUp = (byte)value; } // defined values only (checked when read)

    /// <summary>The schedule's catch-up window, or null for the options'.</summary>
    public TimeSpan? CatchUpWindow
    {
        get => _rare?.CatchUpWindowTicks is { } ticks and >= 0 ? TimeSpan.FromTicks(ticks) : null;
        init
        {
            if (value is { } window)
            {
                (_rare ??= new RareState()).CatchUpWindowTicks = Math.Max(0, window.Ticks);
            }
        }
    }

    public required OverlapPolicy Overlap { get => (OverlapPolicy)_overlap; init => _overlap = (byte)value; }

    public string? Input { get; init; }

    public IReadOnlyDictionary<string, string> Metadata { get; init; } = ScheduledRun.EmptyMetadata;

    public bool Paused { get => Flag(Flags.Paused); init => SetFlag(Flags.Paused, value); }

    /// <summary>True when the occurrences it may still create are limited.</summary>
    public bool Limited { get => Flag(Flags.Limited); init => SetFlag(Flags.Limited, value); }

    /// <summary>Occurrences it may still create, when <see cref="Limited"/> (read from the store before creating).</summary>
    public long Remaining
    {
        get => _rare?.Remaining ?? long.MaxValue;
        set
        {
            if (value != long.MaxValue || _rare is not null)
            {
                (_rare ??= new RareState()).Remaining = value;
            }
        }
    }

    public bool CodeDefined { get => Flag(Flags.CodeDefined); init => SetFlag(Flags.CodeDefined, value); }

    /// <summary>When the schedule was made (UTC ticks): a schedule made again under a deleted one's id is another schedule.</summary>
    public long CreatedTicks { get; init; }

    /// <summary>When its spec took effect (UTC ticks).</summary>
    public long SpecSinceTicks { get; init; }

    /// <summary>When it last changed (made, updated, resumed; UTC ticks): it has been active, if not paused, since.</summary>
    public long ChangedTicks { get; init; }

    /// <summary>True for a code-defined schedule whose spec is the one it was first stored with.</summary>
    public bool FirstSpec { get => Flag(Flags.FirstSpec); init => SetFlag(Flags.FirstSpec, value); }

    /// <summary>
    /// The watermark's name: the id and the instant its spec took effect, so a changed spec starts afresh from then;
    /// just the id for a code-defined schedule still on its first spec (as before schedules were stored).
    /// </summary>
    public string WatermarkKey => CodeDefined && FirstSpec ? Id : WatermarkNames.OfSpecTicks(Id, SpecSinceTicks);

    /// <summary>True once the stored watermark was read.</summary>
    public bool Loaded { get => Flag(Flags.Loaded); set => SetFlag(Flags.Loaded, value); }

    /// <summary>UTC ticks: every occurrence at or before it has its run.</summary>
    public long Watermark { get; set; }

    /// <summary>The first fire time after <see cref="Watermark"/> (UTC ticks) when known; 0 when not yet computed, -1 when none.</summary>
    public long NextTicks { get; set; }

    /// <summary>
    /// Occurrences that fell due while it was paused (id, due instant), kept pending and out of the wheel; null while
    /// there are none (most schedules never have any).
    /// </summary>
    public List<(Guid Id, long Ticks)>? Parked
    {
        get => _rare?.Parked;
        set
        {
            if (value is not null || _rare is not null)
            {
                (_rare ??= new RareState()).Parked = value;
            }
        }
    }

    /// <summary>
    /// True from a resume until a pass has planned it: one that used all its runs is planned then too, so that the
    /// occurrences it made ahead that fell in the pause go by its catch-up policy rather than all running at once.
    /// </summary>
    public bool Resumed { get => Flag(Flags.Resumed); set => SetFlag(Flags.Resumed, value); }

    /// <summary>
    /// True while the planner has set it aside: it has nothing to plan before <see cref="NextTicks"/> (or nothing ever
    /// again, when that is negative), so passes leave it alone until then, and its watermark is really the horizon of
    /// the planner's last pass (<see cref="ScheduleBook.QuietUntil"/>), which <see cref="Watermark"/> catches up to
    /// when it is planned again.
    /// </summary>
    public bool Quiet { get => Flag(Flags.Quiet); set => SetFlag(Flags.Quiet, value); }

    /// <summary>
    /// The state this one replaced under another spec, while fire times of that spec before the change were still to
    /// be decided here (see <see cref="ContinueFrom"/>): the next pass that succeeds plans them, by that state's catch-up
    /// policy and up to when this one's spec took effect, then drops it. Null for most.
    /// </summary>
    public PlannedSchedule? Predecessor
    {
        get => _rare?.Predecessor;
        set
        {
            if (value is not null || _rare is not null)
            {
                (_rare ??= new RareState()).Predecessor = value;
            }
        }
    }

    /// <summary>The store's change sequence of the state this was read from.</summary>
    public long Sequence { get; init; }

    /// <summary>True when this process defines its workflow (it creates and runs occurrences only then).</summary>
    public bool Runnable { get => Flag(Flags.Runnable); init => SetFlag(Flags.Runnable, value); }

    /// <summary>Takes a schedule set aside back into planning: its watermark is the last pass's horizon (see <see cref="Quiet"/>).</summary>
    /// <param name="quietUntil">The horizon of the planner's last pass (<see cref="ScheduleBook.QuietUntil"/>).</param>
    public void Wake(long quietUntil)
    {
        if (Quiet)
        {
            Quiet = false;
            Watermark = Math.Max(Watermark, quietUntil);
        }
    }

    /// <summary>Carries over what the loop learnt of the previous state of the same schedule.</summary>
    /// <param name="previous">The previous state.</param>
    /// <param name="quietUntil">The horizon of the planner's last pass (<see cref="ScheduleBook.QuietUntil"/>).</param>
    public void ContinueFrom(PlannedSchedule previous, long quietUntil)
    {
        long watermark = previous.Quiet ? Math.Max(previous.Watermark, quietUntil) : previous.Watermark;
        Parked = previous.Parked;
        Predecessor = previous.Predecessor;
        if (previous.WatermarkKey == WatermarkKey)
        {
            Loaded = previous.Loaded;
            Watermark = watermark;
            if (!Loaded && watermark == 0 && previous.Paused && !Paused)
            {
                // Resumed, and no pass here has read its stored watermark (a paused schedule is not planned, so none has
                // since this process started). Should its spec change before one does, the store keeps none for the old
                // spec, and the pause's fire times start from here: when it was paused (or last changed while paused).
                // Those before, up to the stored watermark, have their runs (made ahead, held while paused).
                Watermark = previous.ChangedTicks;
            }
        }
        else if (!previous.Paused && (previous.Predecessor is not null || ((previous.Loaded || watermark > 0) && (previous.Resumed || !previous.Loaded || watermark < SpecSinceTicks - 1))))
        {
            // The old spec's fire times before the change are not all decided here: this planner was behind (the store
            // was unreachable), or the pass that was to decide them (a resume's catch-up) failed. They are the old
            // spec's, with its definition and policy: planned with this state at its next pass, up to the change. (Not
            // from a paused state: its fire times since the pause are the pause's, decided at the resume, maybe on
            // another instance, whose resume this one had not read when the spec changed.)
            // One never planned here (changed again at once, before a pass): its fire times from when it took effect.
            previous.Watermark = previous.Loaded || watermark > 0 ? watermark : previous.SpecSinceTicks - (previous.CodeDefined ? 1 : 0);
            previous.Quiet = false;
            previous.Parked = null; // this state's now
            Predecessor = previous;
        }

        Resumed = !Paused && (previous.Paused || previous.Resumed);
    }

    private bool Flag(Flags flag) => (_flags & flag) != 0;

    private void SetFlag(Flags flag, bool value) => _flags = value ? _flags | flag : _flags & ~flag;

    private sealed class RareState
    {
        public long CatchUpWindowTicks { get; set; } = -1; // -1: none of its own

        public long Remaining { get; set; } = long.MaxValue;

        public List<(Guid Id, long Ticks)>? Parked { get; set; }

        public PlannedSchedule? Predecessor { get; set; }
    }
}
