namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// A set of ids in ordinal order, kept in sorted chunks of at most <see cref="ChunkSize"/>, so that a page can start
/// after any id (present or not) with two binary searches and an insert moves at most one chunk's worth of references.
/// A sorted tree offers no such seek: each page would walk from the first id. Not thread-safe: the store calls it
/// under its lock, and reads an enumeration to its end (or drops it) before the next change.
/// </summary>
internal sealed class SortedIds
{
    /// <summary>The most ids a chunk holds; a fuller chunk is split in two halves.</summary>
    internal const int ChunkSize = 128;

    private readonly List<List<string>> _chunks = [];

    /// <summary>How many ids the set holds.</summary>
    public int Count { get; private set; }

    /// <summary>Adds an id; false when it was there already.</summary>
    public bool Add(string id)
    {
        if (_chunks.Count == 0)
        {
            _chunks.Add([id]);
            Count = 1;
            return true;
        }

        int c = Math.Min(FirstChunkEndingAtOrAfter(id), _chunks.Count - 1);
        var chunk = _chunks[c];
        int i = chunk.BinarySearch(id, StringComparer.Ordinal);
        if (i >= 0)
        {
            return false;
        }

        chunk.Insert(~i, id);
        Count++;
        if (chunk.Count > ChunkSize)
        {
            int half = chunk.Count / 2;
            var upper = chunk.GetRange(half, chunk.Count - half);
            chunk.RemoveRange(half, upper.Count);
            _chunks.Insert(c + 1, upper);
        }

        return true;
    }

    /// <summary>Removes an id; false when it was not there.</summary>
    public bool Remove(string id)
    {
        int c = FirstChunkEndingAtOrAfter(id);
        if (c == _chunks.Count)
        {
            return false;
        }

        var chunk = _chunks[c];
        int i = chunk.BinarySearch(id, StringComparer.Ordinal);
        if (i < 0)
        {
            return false;
        }

        chunk.RemoveAt(i);
        Count--;
        if (chunk.Count == 0)
        {
            _chunks.RemoveAt(c);
        }

        return true;
    }

    /// <summary>
    /// The ids in ordinal order that come after <paramref name="after"/> (every id when null) and are not below
    /// <paramref name="atLeast"/> (no bound when null).
    /// </summary>
    public IEnumerable<string> From(string? after, string? atLeast)
    {
        // Start at the later of the two bounds: the first id above "after", or the first at or above "atLeast".
        bool exclusive = after is not null && (atLeast is null || string.CompareOrdinal(after, atLeast) >= 0);
        string? bound = exclusive ? after : atLeast;
        int c = 0, i = 0;
        if (bound is not null)
        {
            c = exclusive ? FirstChunkEndingAfter(bound) : FirstChunkEndingAtOrAfter(bound);
            if (c < _chunks.Count)
            {
                i = _chunks[c].BinarySearch(bound, StringComparer.Ordinal);
                i = i >= 0 ? (exclusive ? i + 1 : i) : ~i;
            }
        }

        for (; c < _chunks.Count; c++, i = 0)
        {
            var chunk = _chunks[c];
            for (; i < chunk.Count; i++)
            {
                yield return chunk[i];
            }
        }
    }

    /// <summary>The first chunk whose last id is at or above <paramref name="id"/>, or the chunk count when none is.</summary>
    private int FirstChunkEndingAtOrAfter(string id)
    {
        int lo = 0, hi = _chunks.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (string.CompareOrdinal(_chunks[mid][^1], id) < 0)
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

    /// <summary>The first chunk whose last id is above <paramref name="id"/>, or the chunk count when none is.</summary>
    private int FirstChunkEndingAfter(string id)
    {
        int lo = 0, hi = _chunks.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (string.CompareOrdinal(_chunks[mid][^1], id) <= 0)
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
}
