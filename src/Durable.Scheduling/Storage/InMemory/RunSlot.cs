namespace Durable.Scheduling.Storage.InMemory;

// How the in-memory store keeps a run: a compact slot per run, rare parts beside it, the lease of a running run.

/// <summary>A run claimed, copied under the lock for its snapshot to be built after.</summary>
internal readonly record struct Claimed(Guid Id, Slot Slot, Guid Token, string Workflow, Extra? Extra);

/// <summary>
/// The compact state of one run (48 bytes, no object references, so the garbage collector never scans the table of
/// them); the rarely used parts live in <see cref="Extra"/>, in a table of their own.
/// </summary>
internal struct Slot
{
    private const byte HasExtraFlag = 0x80;

    public int Workflow;
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
        readonly get => (RunKind)(_kindAndFlags & ~HasExtraFlag);
        set => _kindAndFlags = (byte)((_kindAndFlags & HasExtraFlag) | (byte)value);
    }

    public RunStatus Status { readonly get => (RunStatus)_status; set => _status = (byte)value; }

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
    public string? ScheduleId; // when not the occurrence's workflow
    public OverlapPolicy? Overlap;
}

/// <summary>The lease of a running run.</summary>
internal readonly record struct Lease(Guid Token, long Expires, string Owner);
