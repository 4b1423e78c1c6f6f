using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

[TestFixture]
public sealed class InMemorySchedulingStoreTests : SchedulingStoreConformanceTests
{
    protected override Task<ISchedulingStore> CreateStoreAsync() => Task.FromResult<ISchedulingStore>(new InMemorySchedulingStore());
}
