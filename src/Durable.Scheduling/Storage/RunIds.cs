using System.Buffers.Binary;

namespace Durable.Scheduling.Storage;

/// <summary>
/// Fast unique ids in the UUID version 7 layout (a millisecond timestamp first, so ids sort roughly by creation):
/// the other 74 bits are a per-process random value plus a counter. <see cref="Guid.NewGuid"/> draws from a cryptographic
/// random source per call, which is costly on the per-run path; these only count, and are as unique (62 random bits per process, a counter within it). Not for secrets.
/// </summary>
public static class RunIds
{
    private static readonly ulong s_process = BitConverter.ToUInt64(Guid.NewGuid().ToByteArray(), 0);
    private static long s_counter;

    /// <summary>A new run id whose timestamp part is <paramref name="now"/> (thread-safe; never the same twice in a process).</summary>
    /// <param name="now">The current instant (from the scheduler's clock).</param>
    /// <returns>The id.</returns>
    public static Guid Next(DateTimeOffset now)
    {
        ulong counter = (ulong)Interlocked.Increment(ref s_counter);
        ulong milliseconds = (ulong)now.ToUnixTimeMilliseconds() & 0xFFFF_FFFF_FFFF;
        ulong high = (milliseconds << 16) | 0x7000 | ((counter >> 50) & 0x0FFF); // version 7, then 12 counter bits
        ulong low = ((s_process + counter) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000; // variant 10
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, high);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], low);
        return new Guid(bytes, bigEndian: true);
    }
}
