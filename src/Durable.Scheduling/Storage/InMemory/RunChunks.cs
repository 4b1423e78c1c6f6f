using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Durable.Scheduling.Storage.InMemory;

/// <summary>A run's place in list order: its scheduled instant (UTC ticks), then its id (in <see cref="Guid.CompareTo(Guid)"/> order).</summary>
internal readonly record struct RunKey(long Scheduled, Guid Id) : IComparable<RunKey>
{
    public static readonly RunKey Lowest = new(long.MinValue, Guid.Empty);

    public int CompareTo(RunKey other) => Scheduled != other.Scheduled ? Scheduled.CompareTo(other.Scheduled) : CompareIds(Id, other.Id);

    /// <summary>
    /// The order of <see cref="Guid.CompareTo(Guid)"/>, as two unsigned 64-bit comparisons. Why: runs created in the same
    /// millisecond share their ids' first bytes, and the framework's comparison goes field by field and then byte by byte,
    /// several times slower, in every binary search of a chunk (runs due at one instant are common).
    /// </summary>
    internal static int CompareIds(Guid x, Guid y)
    {
        if (!BitConverter.IsLittleEndian)
        {
            return x.CompareTo(y);
        }

        ref byte bx = ref Unsafe.As<Guid, byte>(ref x);
        ref byte by = ref Unsafe.As<Guid, byte>(ref y);
        ulong hx = High(Unsafe.ReadUnaligned<ulong>(ref bx)), hy = High(Unsafe.ReadUnaligned<ulong>(ref by));
        if (hx != hy)
        {
            return hx < hy ? -1 : 1;
        }

        ulong lx = BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref bx, 8)));
        ulong ly = BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref by, 8)));
        return lx == ly ? 0 : lx < ly ? -1 : 1;
    }

    // A Guid's first eight bytes hold its 32-bit field, then two 16-bit ones, each little-endian; compared as unsigned
    // values in that order, they are one 64-bit value with the first field on top. The last eight are compared as bytes.
    private static ulong High(ulong first8) => (first8 << 32) | ((first8 >> 16) & 0xFFFF_0000) | (first8 >> 48);
}

/// <summary>
/// A set of runs in list order, kept as a list of chunks of at most <see cref="Capacity"/> sorted entries, each chunk
/// covering the keys from its <see cref="RunChunk.Low"/> to the next one's. Not thread-safe (the store's lock guards it).
/// </summary>
/// <remarks>
/// Why our own: the framework's sorted collections allocate a node per entry (an object per run for the collector to
/// trace, several times the entry's size); a chunk of sorted entries costs the entry itself, and can carry a summary of
/// what it holds, so a filtered read skips chunks without looking at their runs. An insert is a binary search over the
/// chunks and a short move inside one; runs added in time order append, and fill their chunks whole.
/// </remarks>
internal class RunChunks
{
    public const int Capacity = 128; // a position in a chunk fits the 7 bits Slot.Hint has (a larger chunk only makes hints miss)

    private readonly List<RunChunk> _ordered;
    private readonly bool _tagged;
    private RunChunk? _last; // where the last insert went: runs usually come in bursts of nearby instants

    /// <param name="tagged">True to keep a tag beside each entry (see <see cref="RunChunk.Tags"/>).</param>
    public RunChunks(bool tagged = false)
    {
        _tagged = tagged;
        _ordered = [new RunChunk(RunKey.Lowest, tagged)];
    }

    /// <summary>The chunks in key order; the first covers every key below the second's low key.</summary>
    public IReadOnlyList<RunChunk> Ordered => _ordered;

    public int Count { get; private set; }

    /// <summary>Adds an entry (which must not be in the set yet), with its tag, and returns the chunk that holds it.</summary>
    public RunChunk Add(RunKey key, uint tag = 0) => Add(key, tag, out _);

    /// <summary>Adds an entry (which must not be in the set yet), with its tag, and returns the chunk that holds it and its position there.</summary>
    public RunChunk Add(RunKey key, uint tag, out int position)
    {
        var chunk = _last is { } last && last.Covers(key) ? last : _ordered[Locate(key)];
        int at = chunk.LowerBound(key);
        if (chunk.Count == Capacity)
        {
            chunk = Split(chunk, key, ref at);
        }

        chunk.Insert(at, key, tag);
        Count++;
        _last = chunk;
        position = at;
        return chunk;
    }

    /// <summary>Removes an entry from the chunk that holds it (found by key when <paramref name="chunk"/> is null).</summary>
    /// <param name="key">The entry.</param>
    /// <param name="chunk">The chunk that holds it, or null to find it.</param>
    /// <param name="hint">Where in <paramref name="chunk"/> it may be (checked), or -1.</param>
    /// <returns>False when the entry was not there.</returns>
    public bool Remove(RunKey key, RunChunk? chunk = null, int hint = -1)
    {
        int position = -1;
        if (chunk is null)
        {
            position = Locate(key);
            chunk = _ordered[position];
        }

        int at = chunk.IsAt(hint, key) ? hint : chunk.LowerBound(key);
        if (at >= chunk.Count || chunk.Entries[at] != key)
        {
            return false;
        }

        chunk.RemoveAt(at);
        Count--;
        if (chunk.Count == 0)
        {
            Drop(chunk, position);
        }

        return true;
    }

    /// <summary>Removes the entries of one chunk that <paramref name="stale"/> selects, keeping the rest in order (the
    /// chunk stays, even empty, so positions in <see cref="Ordered"/> hold while a caller walks it).</summary>
    /// <returns>True when the chunk was left empty (see <see cref="DropIfEmpty"/>).</returns>
    public bool RemoveWhere(RunChunk chunk, Func<RunKey, bool> stale)
    {
        Count -= chunk.RemoveWhere(stale);
        return chunk.Count == 0;
    }

    /// <summary>Drops a chunk left empty (other than the first); its keys fall to the one before it.</summary>
    public void DropIfEmpty(RunChunk chunk)
    {
        if (chunk.Count == 0)
        {
            Drop(chunk, -1);
        }
    }

    /// <summary>Drops an empty chunk other than the first; its keys fall to the one before it.</summary>
    private bool Drop(RunChunk chunk, int position)
    {
        if (ReferenceEquals(chunk, _ordered[0]))
        {
            return false;
        }

        position = position >= 0 ? position : Locate(chunk.Low);
        _ordered[position - 1].Next = chunk.Next;
        _ordered.RemoveAt(position);
        _last = null;
        OnRemoved(chunk);
        return true;
    }

    /// <summary>The position in <see cref="Ordered"/> of the chunk covering <paramref name="key"/>.</summary>
    public int Locate(RunKey key)
    {
        int lo = 0, hi = _ordered.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (_ordered[mid].Low.CompareTo(key) <= 0)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return lo;
    }

    /// <summary>Called for each chunk made after the first.</summary>
    protected virtual void OnCreated(RunChunk chunk)
    {
    }

    /// <summary>Called after the entries from <paramref name="to"/>'s start moved there from <paramref name="from"/>.</summary>
    protected virtual void OnMoved(RunChunk from, RunChunk to)
    {
    }

    /// <summary>Called for each chunk dropped once empty.</summary>
    protected virtual void OnRemoved(RunChunk chunk)
    {
    }

    /// <summary>Splits a full chunk and returns the half <paramref name="key"/> goes to, with its position there.</summary>
    private RunChunk Split(RunChunk chunk, RunKey key, ref int at)
    {
        // A key past every entry starts a new chunk of its own, and a key in the last quarter moves only the entries
        // after it (runs added in time order fill chunks whole, even before a few far later ones); otherwise the upper
        // half moves.
        int count = chunk.Count;
        int from = at == count ? count : at >= count * 3 / 4 ? at : count / 2;
        var low = from == count ? key : chunk.Entries[from];
        var upper = new RunChunk(low, _tagged) { Next = chunk.Next };
        OnCreated(upper);
        chunk.MoveTail(from, upper);
        chunk.Next = upper;
        _ordered.Insert(Locate(chunk.Low) + 1, upper);
        OnMoved(chunk, upper);
        // The key goes above the moved entries' first only past it (or when it starts the new chunk); a key at the cut
        // is not above the new chunk's low key, so it ends the old chunk, which has room now.
        if (at > from || from == count)
        {
            at -= from;
            return upper;
        }

        return chunk;
    }
}

/// <summary>Up to <see cref="RunChunks.Capacity"/> runs in list order, with what the store keeps to skip it.</summary>
internal sealed class RunChunk(RunKey low, bool tagged)
{
    public RunKey[] Entries { get; private set; } = [];

    /// <summary>A small value beside each entry (what the owner needs to rule a run out without looking it up); empty when not tagged.</summary>
    public uint[] Tags { get; private set; } = [];

    public int Count { get; private set; }

    /// <summary>The lowest key this chunk covers (it covers up to the next chunk's).</summary>
    public RunKey Low { get; } = low;

    public RunChunk? Next { get; set; }

    /// <summary>The chunk's number in its store's table (slots refer to their chunk by it).</summary>
    public int Number { get; set; }

    /// <summary>How many runs of each status it holds (exact), indexed by <see cref="RunStatus"/>; kept by the store's main order only.</summary>
    public int[]? Statuses { get; set; }

    /// <summary>Bit (workflow index mod 64) of every workflow it may hold: a bit clear means none of that workflow.</summary>
    public ulong Workflows { get; set; }

    /// <summary>As <see cref="Workflows"/>, for the schedules its runs belong to.</summary>
    public ulong Schedules { get; set; }

    /// <summary>Bit (1 &lt;&lt; kind) of every kind of run it may hold.</summary>
    public int Kinds { get; set; }

    public bool Covers(RunKey key) => Low.CompareTo(key) <= 0 && (Next is null || key.CompareTo(Next.Low) < 0);

    /// <summary>True when the entry at <paramref name="position"/> (which may be out of range) is <paramref name="key"/>.</summary>
    public bool IsAt(int position, RunKey key) => (uint)position < (uint)Count && Entries[position] == key;

    /// <summary>The position of the first entry not below <paramref name="key"/>.</summary>
    public int LowerBound(RunKey key)
    {
        int lo = 0, hi = Count;
        if (hi > 0 && Entries[hi - 1].CompareTo(key) < 0)
        {
            return hi; // appending in time order: no search
        }

        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Entries[mid].CompareTo(key) < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    public void Insert(int at, RunKey key, uint tag)
    {
        if (Count == Entries.Length)
        {
            int size = Math.Clamp(Count * 2, 4, RunChunks.Capacity);
            var grown = new RunKey[size];
            Array.Copy(Entries, grown, Count);
            Entries = grown;
            if (tagged)
            {
                var tags = new uint[size];
                Array.Copy(Tags, tags, Count);
                Tags = tags;
            }
        }

        Array.Copy(Entries, at, Entries, at + 1, Count - at);
        Entries[at] = key;
        if (tagged)
        {
            Array.Copy(Tags, at, Tags, at + 1, Count - at);
            Tags[at] = tag;
        }

        Count++;
    }

    public void RemoveAt(int at)
    {
        Count--;
        Array.Copy(Entries, at + 1, Entries, at, Count - at);
        if (tagged)
        {
            Array.Copy(Tags, at + 1, Tags, at, Count - at);
        }

        Entries[Count] = default;
    }

    /// <summary>Removes the entries <paramref name="stale"/> selects, keeping the rest in order; returns how many went.</summary>
    public int RemoveWhere(Func<RunKey, bool> stale)
    {
        int kept = 0;
        for (int i = 0; i < Count; i++)
        {
            if (!stale(Entries[i]))
            {
                Entries[kept] = Entries[i];
                if (tagged)
                {
                    Tags[kept] = Tags[i];
                }

                kept++;
            }
        }

        int removed = Count - kept;
        Array.Clear(Entries, kept, removed);
        Count = kept;
        return removed;
    }

    /// <summary>Moves the entries from <paramref name="from"/> on to the start of an empty chunk.</summary>
    public void MoveTail(int from, RunChunk to)
    {
        int moved = Count - from;
        to.Entries = new RunKey[RunChunks.Capacity];
        Array.Copy(Entries, from, to.Entries, 0, moved);
        if (tagged)
        {
            to.Tags = new uint[RunChunks.Capacity];
            Array.Copy(Tags, from, to.Tags, 0, moved);
        }

        Array.Clear(Entries, from, moved);
        to.Count = moved;
        Count = from;
    }
}
