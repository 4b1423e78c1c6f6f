using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// The in-memory store's runs by id: a dictionary from id to a slot number, and the slots themselves in fixed pages
/// that never move. A dictionary of whole slots copies every slot each time it grows (and it grows often, in small
/// steps, to stay mostly full); here growing copies only the small id entries, and a page is added as slots run out.
/// A removed run's slot is reused by the next run added. Not thread-safe (the store's lock).
/// </summary>
internal sealed class RunTable
{
    private const int PageShift = 10; // 1,024 slots a page: well under the large object heap's threshold
    private const int PageMask = (1 << PageShift) - 1;

    private readonly Dictionary<Guid, int> _numbers = new(RunIdComparer.Instance);
    private readonly Stack<int> _free = new(); // numbers of removed runs' slots
    private Slot[][] _pages = new Slot[4][];
    private int _fresh; // slots ever handed out: the next never-used number

    /// <summary>How many runs the table holds.</summary>
    public int Count => _numbers.Count;

    /// <summary>The run's slot, or a null reference (<see cref="Unsafe.IsNullRef{T}(ref readonly T)"/>) when absent.</summary>
    /// <remarks>The reference stays valid until the run is removed (slots never move).</remarks>
    public ref Slot Find(Guid id)
    {
        ref int number = ref CollectionsMarshal.GetValueRefOrNullRef(_numbers, id);
        if (Unsafe.IsNullRef(ref number))
        {
            return ref Unsafe.NullRef<Slot>();
        }

        return ref _pages[number >> PageShift][number & PageMask];
    }

    /// <summary>The run's slot; throws when absent.</summary>
    /// <exception cref="KeyNotFoundException">No run has <paramref name="id"/>.</exception>
    public ref Slot this[Guid id]
    {
        get
        {
            ref var slot = ref Find(id);
            if (Unsafe.IsNullRef(ref slot))
            {
                throw new KeyNotFoundException($"No run {id} in the table.");
            }

            return ref slot;
        }
    }

    /// <summary>Copies the run's slot out, if present.</summary>
    public bool TryGetValue(Guid id, out Slot slot)
    {
        ref var found = ref Find(id);
        if (Unsafe.IsNullRef(ref found))
        {
            slot = default;
            return false;
        }

        slot = found;
        return true;
    }

    /// <summary>
    /// The slot for a new run (cleared), or, when <paramref name="exists"/> is true, the slot of the run with that id
    /// already there (unchanged).
    /// </summary>
    public ref Slot Add(Guid id, out bool exists)
    {
        StepGrowth.MakeRoomForOne(_numbers);
        ref int number = ref CollectionsMarshal.GetValueRefOrAddDefault(_numbers, id, out exists);
        if (exists)
        {
            return ref _pages[number >> PageShift][number & PageMask];
        }

        number = _free.TryPop(out int reused) ? reused : NewNumber();
        ref var slot = ref _pages[number >> PageShift][number & PageMask];
        slot = default;
        return ref slot;
    }

    /// <summary>Removes a run; its slot goes to the next run added.</summary>
    public bool Remove(Guid id)
    {
        if (!_numbers.Remove(id, out int number))
        {
            return false;
        }

        _free.Push(number);
        return true;
    }

    private int NewNumber()
    {
        int number = _fresh++;
        int page = number >> PageShift;
        if (page == _pages.Length)
        {
            Array.Resize(ref _pages, _pages.Length * 2); // an array of page references: small
        }

        _pages[page] ??= new Slot[1 << PageShift];
        return number;
    }
}
