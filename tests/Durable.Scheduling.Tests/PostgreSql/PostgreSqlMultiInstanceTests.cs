using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>
/// Several scheduler hosts in one process on one PostgreSQL schema (real clock): wake-ups cross instances, every run
/// executes once, work spreads. They assert outcomes, never durations. The fleet of processes with a nemesis is
/// <see cref="PostgreSqlFleetTests"/>.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PostgreSqlMultiInstanceTests
{
    private static async Task<IHost> StartAsync<TWorkflows>(string schema, Action<SchedulingOptions>? configure = null)
    {
        string connectionString = await PostgreSqlServer.ConnectionStringAsync();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton<RunLog>();
        builder.Services.AddScheduling(o =>
        {
            o.WorkflowTypes.Add(typeof(TWorkflows));
            configure?.Invoke(o);
        }).UsePostgreSql(connectionString, o => o.Schema = schema);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    [Test]
    public async Task ARunScheduledOnOneInstance_AndDueNow_StartsOnAnother_WithoutWaitingForItsPoll()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        try
        {
            // The executing instance polls every ten minutes: only the notification can start the run within the test.
            using var worker = await StartAsync<PostgreSqlWakeWorkflows>(schema, o => o.PollInterval = TimeSpan.FromMinutes(10));
            using var client = await StartAsync<PostgreSqlWakeWorkflows>(schema, o => o.ExecuteRuns = false);
            await Task.Delay(TimeSpan.FromSeconds(1)); // the worker's first feed is done and its listener is connected

            var scheduler = client.Services.GetRequiredService<IScheduler>();
            var run = await scheduler.ScheduleAsync("pg-wake", TimeProvider.System.GetUtcNow());
            var log = worker.Services.GetRequiredService<RunLog>();
            await RealClockHost.UntilAsync(() => !log.Invocations.IsEmpty);

            log.Invocations.Should().ContainSingle().Which.RunId.Should().Be(run.Id);
            await client.StopAsync();
            await worker.StopAsync();
        }
        finally
        {
            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }

    [Test]
    public async Task AnInstanceThatJoinsABusyFleet_TakesWorkAtOnce()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        try
        {
            // A alone would take about four seconds for the backlog (two at a time, a fifth of a second each).
            using var a = await StartAsync<PostgreSqlSlowWorkflows>(schema, o => o.MaxConcurrency = 2);
            var scheduler = a.Services.GetRequiredService<IScheduler>();
            var runs = await scheduler.ScheduleManyAsync(Enumerable.Range(0, 40).Select(_ => new RunRequest("pg-slow", TimeProvider.System.GetUtcNow())));
            var logA = a.Services.GetRequiredService<RunLog>();
            await RealClockHost.UntilAsync(() => !logA.Invocations.IsEmpty);

            using var b = await StartAsync<PostgreSqlSlowWorkflows>(schema, o => o.MaxConcurrency = 2);
            var logB = b.Services.GetRequiredService<RunLog>();
            await RealClockHost.UntilAsync(() => logA.Invocations.Count + logB.Invocations.Count >= runs.Count);
            await b.StopAsync();
            await a.StopAsync();

            logB.Invocations.Should().NotBeEmpty("the instance that joined took part of the backlog");
            logA.Invocations.Concat(logB.Invocations).Select(i => i.RunId).Should().BeEquivalentTo(runs.Select(r => r.Id), "each run once");
        }
        finally
        {
            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }

    [Test]
    public async Task ThreeInstancesOnOneDatabase_RunEveryOneTimeRunAndEveryOccurrenceOnce_AndShareTheWork()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        var hosts = new List<IHost>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                hosts.Add(await StartAsync<PostgreSqlFleetWorkflows>(schema, o => o.InstanceId = "instance-" + i));
            }

            var scheduler = hosts[0].Services.GetRequiredService<IScheduler>();
            var start = TimeProvider.System.GetUtcNow();
            const int Runs = 3000;
            await scheduler.ScheduleManyAsync(Enumerable.Range(0, Runs).Select(i => new RunRequest("pg-once", start.AddMilliseconds(i % 500))));
            var logs = hosts.Select(h => h.Services.GetRequiredService<RunLog>()).ToList();
            await RealClockHost.UntilAsync(() => logs.Sum(l => l.Of("pg-once").Count) >= Runs &&
                TimeProvider.System.GetUtcNow() > start.AddSeconds(4));
            var end = TimeProvider.System.GetUtcNow();
            foreach (var host in hosts)
            {
                await host.StopAsync();
            }

            var once = logs.SelectMany(l => l.Of("pg-once")).ToList();
            once.Should().HaveCount(Runs);
            once.Select(i => i.RunId).Should().OnlyHaveUniqueItems();
            logs.Count(l => l.Of("pg-once").Count > 0).Should().BeGreaterThan(1, "the work spreads over the instances");

            // Each second between start-up and stop fired once across the three (the edges may fall either side).
            var occurrences = logs.SelectMany(l => l.Of("pg-every-second")).Select(i => i.Scheduled).ToList();
            occurrences.Should().OnlyHaveUniqueItems();
            var expected = Enumerable.Range(1, (int)(end - start).TotalSeconds - 1)
                .Select(s => new DateTimeOffset(start.UtcTicks - start.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero).AddSeconds(s))
                .Where(t => t < end.AddSeconds(-1));
            occurrences.Should().Contain(expected);
        }
        finally
        {
            foreach (var host in hosts)
            {
                host.Dispose();
            }

            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }

    [Test]
    public async Task AScheduleMadeOnOneInstance_RunsEachFireTimeOnceAcrossThree_AndAPauseOnAnotherStopsAllOfThem()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        var hosts = new List<IHost>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                hosts.Add(await StartAsync<PostgreSqlWakeWorkflows>(schema, o => o.InstanceId = "schedules-" + i));
            }

            var first = hosts[0].Services.GetRequiredService<ISchedules>();
            await first.CreateAsync(new ScheduleDefinition { Id = "pg-every-second", WorkflowName = "pg-wake", Spec = ScheduleSpec.FromCron("* * * * * *") });
            var logs = hosts.Select(h => h.Services.GetRequiredService<RunLog>()).ToList();
            await RealClockHost.UntilAsync(() => logs.Sum(l => l.OfSchedule("pg-every-second").Count) >= 4);

            await hosts[2].Services.GetRequiredService<ISchedules>().PauseAsync("pg-every-second", "from another instance");
            await Task.Delay(TimeSpan.FromSeconds(2)); // the others follow within a poll (one second)
            int afterPause = logs.Sum(l => l.OfSchedule("pg-every-second").Count);
            await Task.Delay(TimeSpan.FromSeconds(3));
            logs.Sum(l => l.OfSchedule("pg-every-second").Count).Should().Be(afterPause, "no instance runs a paused schedule");

            var described = await hosts[1].Services.GetRequiredService<ISchedules>().DescribeAsync("pg-every-second");
            described.Paused.Should().BeTrue();
            described.Counters.Succeeded.Should().Be(afterPause, "outcomes are counted on the schedule with their completions");
            var runs = logs.SelectMany(l => l.OfSchedule("pg-every-second")).ToList();
            runs.Select(r => r.Scheduled).Should().OnlyHaveUniqueItems("each fire time runs once across the instances");
            runs.Select(r => r.Key).Should().AllSatisfy(k => k.Should().StartWith("pg-every-second@"));
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.StopAsync();
                host.Dispose();
            }

            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }
}
