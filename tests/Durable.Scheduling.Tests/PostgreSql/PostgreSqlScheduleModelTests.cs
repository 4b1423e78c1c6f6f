using Durable.Scheduling.PostgreSql;
using Durable.Scheduling.Tests.Schedules;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>
/// <see cref="ScheduleOperationsModelTests"/> on PostgreSQL (here, beside the other PostgreSQL tests, whose server stops
/// when they end), on one instance and on two sharing a schema. On two, the store's change notifications wake the other
/// instance at once, in real time, so both plan in the same moment unless the store's planning lock keeps them apart.
/// These seeds showed now and then, before it: a resumed schedule caught up by both, its missed fire times counted twice
/// (1216, 1241) and the run one of them made for its latest fire time skipped by the other (1209, 1232, 1236), and a
/// limited schedule running past its limit (1224, 1231).
/// </summary>
[TestFixture]
public sealed class PostgreSqlScheduleModelTests
{
    [TestCase(950, 1)]
    [TestCase(952, 1)]
    [TestCase(1209, 2)]
    [TestCase(1216, 2)]
    [TestCase(1224, 2)]
    [TestCase(1231, 2)]
    [TestCase(1232, 2)]
    [TestCase(1236, 2)]
    [TestCase(1241, 2)]
    public async Task RandomOperations_RunWhatTheModelSays(int seed, int instances)
    {
        string schema = PostgreSqlTestStores.NewSchema();
        var opened = new List<PostgreSqlSchedulingStore>(); // one per process start: each holds a pool and a listening connection
        try
        {
            await ScheduleOperationsModelTests.RunAsync(seed, () =>
            {
                var store = PostgreSqlTestStores.CreateAsync(schema).GetAwaiter().GetResult();
                opened.Add(store);
                return store;
            }, instances);
        }
        finally
        {
            foreach (var store in opened)
            {
                await store.DisposeAsync();
            }

            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }
}
