using Durable.Scheduling.Tests.Schedules;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>
/// <see cref="ScheduleOperationsModelTests"/> on PostgreSQL (here, beside the other PostgreSQL tests, whose server stops
/// when they end). One instance: two sharing a schema are left out until the race below is closed. The store's change
/// notifications wake the other instance at once, in real time, so it may catch a just-resumed schedule up in the same
/// moment as the instance that resumed it, and both count what the policy dropped (seed 1223 on two instances, now and
/// then).
/// </summary>
[TestFixture]
public sealed class PostgreSqlScheduleModelTests
{
    [TestCase(950, 1)]
    [TestCase(952, 1)]
    public async Task RandomOperations_RunWhatTheModelSays(int seed, int instances)
    {
        string schema = PostgreSqlTestStores.NewSchema();
        try
        {
            await ScheduleOperationsModelTests.RunAsync(seed, () => PostgreSqlTestStores.CreateAsync(schema).GetAwaiter().GetResult(), instances);
        }
        finally
        {
            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }
}
