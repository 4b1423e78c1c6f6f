using System.Buffers.Binary;
using System.Runtime.CompilerServices;

using Durable.Scheduling.Storage;

namespace Durable.Scheduling;

/// <summary>
/// Compares run ids for hash tables, hashing the id's last four bytes. Ids from <see cref="RunIds"/> end in a
/// per-process counter, so runs created one after another get consecutive hashes and sit next to each other in a
/// table's memory: claiming or completing them in creation order walks memory in order instead of missing the cache
/// once per run. Any other id is as well spread by those bytes (they are random in UUID versions 4 and 7).
/// </summary>
internal sealed class RunIdComparer : IEqualityComparer<Guid>
{
    public static readonly RunIdComparer Instance = new();

    public bool Equals(Guid x, Guid y) => x == y;

    public int GetHashCode(Guid obj) =>
        BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref Unsafe.As<Guid, byte>(ref obj), 12)));
}
