namespace Durable.Scheduling.Storage.InMemory;

/// <summary>
/// Grows the store's large dictionaries about a third at a time instead of doubling them. A dictionary that doubles is
/// between half and fully used, so a run costs up to twice its entry; growing by a third keeps each more than two
/// thirds used once it is large (the runtime rounds a size up to a prime from a table of its own), at the cost of more frequent (smaller) copies while it grows (each entry is copied
/// about three times as a table grows, against once when doubling; a fifth kept it fuller but copied five times). Uses the dictionary's own
/// <see cref="Dictionary{TKey, TValue}.EnsureCapacity"/>, which sizes to the runtime's next prime at least as large.
/// </summary>
internal static class StepGrowth
{
    /// <summary>The size below which the dictionary's own doubling is kept (small tables: copies are cheap, waste is small).</summary>
    private const int Threshold = 1024;

    /// <summary>Makes room for one more entry, growing by about a third when the dictionary is full.</summary>
    /// <remarks>Refs into the dictionary's values are invalid after it grows, as after any add.</remarks>
    public static void MakeRoomForOne<TKey, TValue>(Dictionary<TKey, TValue> dictionary)
        where TKey : notnull
    {
        int capacity = dictionary.EnsureCapacity(0); // the current capacity; nothing changes
        if (dictionary.Count >= capacity && capacity >= Threshold)
        {
            dictionary.EnsureCapacity(capacity + (capacity / 3));
        }
    }
}
