using Durable.Scheduling.Tests.Schedules;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>
/// <see cref="ScheduleOperationsModelTests"/> on PostgreSQL, one instance and two sharing a schema (here, beside the
/// other PostgreSQL tests, whose server stops when they end).
/// </summary>
[TestFixture]
public sealed class PostgreSqlScheduleModelTests
{
    [TestCase(950, 1)]
    [TestCase(951, 2)]
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
