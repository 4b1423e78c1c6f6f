using System.Globalization;
using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Tests.Sqlite;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Data.Sqlite;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>
/// Schedules that come and go leave nothing behind: each keeps one watermark, of its current spec, and none once deleted,
/// however often they are made, changed and deleted (an app managing per-tenant schedules does that all day).
/// </summary>
[TestFixture]
public sealed class WatermarkUpkeepTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task SchedulesMadeChangedAndDeletedOverAndOver_KeepOneWatermarkEachWhileTheyLive_AndNoneAfter()
    {
        string file = SqliteTestFiles.NewFile("watermarks");
        try
        {
            var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={file}" });
            await using var harness = new SchedulerHarness(s_start, [typeof(ScheduleWorkflows)], o => o.PollInterval = TimeSpan.FromSeconds(5), store);
            await harness.StartAsync();
            var schedules = harness.Scheduler.Schedules;
            for (int round = 0; round < 4; round++)
            {
                for (int i = 0; i < 10; i++)
                {
                    await schedules.CreateOrUpdateAsync(new ScheduleDefinition { Id = $"tenant-{round}-{i}", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("10s") });
                }

                await harness.RunForAsync(TimeSpan.FromMinutes(1));
                for (int i = 0; i < 10; i += 2)
                {
                    // A new spec for half of them (each change starts a new watermark)...
                    await schedules.CreateOrUpdateAsync(new ScheduleDefinition { Id = $"tenant-{round}-{i}", WorkflowName = "tick", Spec = ScheduleSpec.FromInterval("20s") });
                }

                await harness.RunForAsync(TimeSpan.FromMinutes(1));
                for (int i = 1; i < 10; i += 2)
                {
                    await schedules.DeleteAsync($"tenant-{round}-{i}"); // ...and the other half go
                }

                await harness.RunForAsync(TimeSpan.FromMinutes(1));
            }

            var live = (await schedules.ListAsync(new ScheduleQuery { PageSize = 100 })).Items.Select(s => s.Id).ToList();

            live.Should().HaveCount(20);
            var rows = Watermarks(file);
            rows.Should().HaveCount(20, "one watermark per live schedule, of its current spec: none of the old specs', none of the deleted schedules'");
            rows.Select(r => r[..r.IndexOf('~', StringComparison.Ordinal)]).Should().BeEquivalentTo(live);
            harness.Log.Of("tick").Should().NotBeEmpty();
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            SqliteTestFiles.Delete(file);
        }
    }

    private static List<string> Watermarks(string file)
    {
        using var connection = new SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT schedule FROM ds_watermarks";
        var names = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            names.Add(Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture)!);
        }

        return names;
    }
}
