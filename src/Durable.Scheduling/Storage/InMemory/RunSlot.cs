namespace Durable.Scheduling.Storage.InMemory;

// How the in-memory store keeps a run: a compact slot per run, rare parts beside it, the lease of a running run.

/// <summary>A run claimed, copied under the lock for its snapshot to be built after.</summary>
internal readonly record struct Claimed(Guid Id, Slot Slot, Guid Token, string Workflow, string? Schedule, Extra? Extra);

/// <summary>
/// The compact state of one run (56 bytes, no object references, so the garbage collector never scans the table of
/// them; a run's schedule is an index, so runs of schedules made at run time need no object of their own either); the rarely used parts live in <see cref="Extra"/>, in a table of their own.
/// </summary>
internal struct Slot
{
    private const byte HasExtraFlag = 0x80;
    private const byte KindBits = 0x0F;
    private const int OverlapShift = 4; // bits 4-6: the run's own overlap policy plus one (0: none)
    private const int HintBits = 7; // a position in a chunk (RunChunks.Capacity entries)
    private const int HintMask = (1 << HintBits) - 1;

    public int Workflow;

    /// <summary>The run's schedule (an index in the store's name table) plus one, when not implied by its workflow; 0 otherwise.</summary>
    public int Schedule;

    // The chunk's number above, where in the chunk the run was last seen below (RunChunks.Capacity is 128: 7 bits).
    private int _chunkAndHint;
    private byte _kindAndFlags;
    private byte _status;
    public ushort Attempt;
    public long Scheduled;
    public long Due;
    public long Created;
    public long Started; // the last attempt's start; 0 before the first
    public long Completed; // 0 until it ends

    public RunKind Kind
    {
        readonly get => (RunKind)(_kindAndFlags & KindBits);
        set => _kindAndFlags = (byte)((_kindAndFlags & ~KindBits) | (byte)value);
    }

    /// <summary>The run's own overlap policy, or null.</summary>
    public OverlapPolicy? Overlap
    {
        readonly get => (_kindAndFlags >> OverlapShift & 0x7) is var v and > 0 ? (OverlapPolicy)(v - 1) : null;
        set => _kindAndFlags = (byte)((_kindAndFlags & ~(0x7 << OverlapShift)) | ((value is { } o ? (int)o + 1 : 0) << OverlapShift));
    }

    public RunStatus Status { readonly get => (RunStatus)_status; set => _status = (byte)value; }

    /// <summary>The number of the chunk of the store's list order that holds the run (see <see cref="RunOrder"/>).</summary>
    public int Chunk
    {
        readonly get => _chunkAndHint >>> HintBits;
        set => _chunkAndHint = (value << HintBits) | (_chunkAndHint & HintMask);
    }

    /// <summary>
    /// Where in its chunk the run was when last looked up: right until an entry before it comes or goes, so a reader
    /// checks it before using it (and searches the chunk otherwise).
    /// </summary>
    public int Hint
    {
        readonly get => _chunkAndHint & HintMask;
        set => _chunkAndHint = (_chunkAndHint & ~HintMask) | (value & HintMask);
    }

    /// <summary>True when the run has an entry in the store's table of rare parts.</summary>
    public bool HasExtra
    {
        readonly get => (_kindAndFlags & HasExtraFlag) != 0;
        set => _kindAndFlags = (byte)(value ? _kindAndFlags | HasExtraFlag : _kindAndFlags & ~HasExtraFlag);
    }
}

/// <summary>What few runs have: a caller's key, an input, metadata, or why the last attempt failed.</summary>
internal sealed class Extra
{
    public string? CallerKey;
    public string? Input;
    public IReadOnlyDictionary<string, string>? Metadata;
    public RunError? Error;
    public string? TraceParent;
}

/// <summary>The lease of a running run.</summary>
internal readonly record struct Lease(Guid Token, long Expires, string Owner);
