using System.Diagnostics;
using System.Globalization;
using Durable.Scheduling.FleetHost;
using Durable.Scheduling.Storage;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>
/// The fleet test, Jepsen-style (reliability scenarios, group B): three real host processes on one PostgreSQL schema
/// run an every-second schedule and a stream of one-time runs while a nemesis, in turn, kills instances (SIGKILL, four
/// times) and restarts them, pauses one (SIGSTOP) past its lease and resumes it, cuts one's connections (pg_terminate_backend),
/// and restarts the server (immediate stop); all along one instance's clock runs seconds ahead. The checker, like
/// Jepsen's for Chronos: every expected occurrence and every acknowledged one-time run has exactly one record, ended
/// as succeeded, and was really handled; a handler ran more than once only where a disturbed process explains it;
/// nothing is stuck.
/// </summary>
[TestFixture]
[Category("Slow")]
[NonParallelizable]
public sealed class PostgreSqlFleetTests
{
    private static readonly string s_host = Path.Combine(AppContext.BaseDirectory, "Durable.Scheduling.FleetHost.dll");
    private static readonly TimeSpan s_skew = TimeSpan.FromSeconds(3); // more than the 2 s lease: a clock-judged takeover would double runs
    private static readonly TimeSpan s_margin = TimeSpan.FromSeconds(4); // a lease (2 s) and a poll, either side of a disturbance

    [Test]
    public async Task ThreeProcesses_UnderANemesis_RunEveryOccurrenceAndEveryAcceptedRunExactlyOnce()
    {
        var server = await PostgreSqlServer.GetAsync();
        string connectionString = server.ConnectionString;
        string schema = PostgreSqlTestStores.NewSchema();
        string log = Path.Combine(Path.GetTempPath(), "ds-fleet-" + Guid.NewGuid().ToString("N")[..8] + ".log");
        var disturbances = new List<Disturbance>();
        var processes = new Process?[3];
        var accepted = new List<string>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                processes[i] = await StartAsync(connectionString, schema, log, i);
            }

            var first = DateTimeOffset.UtcNow.AddSeconds(1);

            // The stream of one-time runs, from a client instance; a call that fails is retried with the same key until
            // it is acknowledged (only acknowledged runs are expected).
            using var client = await StartClientAsync(connectionString, schema);
            var scheduler = client.Services.GetRequiredService<IScheduler>();
            using var stopProducing = new CancellationTokenSource();
            var producer = Task.Run(async () =>
            {
                for (int n = 0; !stopProducing.IsCancellationRequested; n++)
                {
                    string key = "stream-" + n.ToString(CultureInfo.InvariantCulture);
                    var at = DateTimeOffset.UtcNow.AddMilliseconds(Random.Shared.Next(0, 1500));
                    while (true)
                    {
                        try
                        {
                            await scheduler.ScheduleAsync("fleet-one-time", at, idempotencyKey: key);
                            lock (accepted)
                            {
                                accepted.Add(RunKeys.OneTime("fleet-one-time", key, Guid.Empty));
                            }

                            break;
                        }
                        catch (Exception e) when (e is IOException or TimeoutException)
                        {
                            await Task.Delay(100);
                        }
                    }

                    await Task.Delay(40);
                }
            });

            // The nemesis, one fault at a time.
            // Kills, several, of different instances, at moments that often fall inside a handler or between a claim
            // and its completion; each victim restarts under the same instance id (it frees what it held).
            await Task.Delay(TimeSpan.FromSeconds(4));
            var random = new Random(14);
            foreach (int victim in new[] { 0, 1, 2, 0 })
            {
                var killedAt = DateTimeOffset.UtcNow;
                disturbances.Add(new Disturbance("SIGKILL", processes[victim]!.Id, killedAt, killedAt));
                processes[victim]!.Kill(entireProcessTree: true);
                await processes[victim]!.WaitForExitAsync();
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(500, 2500)));
                processes[victim] = await StartAsync(connectionString, schema, log, victim);
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(200, 1200)));
            }

            await Task.Delay(TimeSpan.FromSeconds(3));
            var pausedAt = DateTimeOffset.UtcNow;
            Signal("STOP", processes[1]!.Id);
            await Task.Delay(TimeSpan.FromSeconds(5)); // past its 2 s leases
            Signal("CONT", processes[1]!.Id);
            disturbances.Add(new Disturbance("SIGSTOP", processes[1]!.Id, pausedAt, DateTimeOffset.UtcNow));

            await Task.Delay(TimeSpan.FromSeconds(3));
            var cutAt = DateTimeOffset.UtcNow;
            for (int cut = 0; cut < 3; cut++)
            {
                await server.TerminateConnectionsAsync("fleet-2");
                await Task.Delay(300);
            }

            disturbances.Add(new Disturbance("cut", processes[2]!.Id, cutAt, DateTimeOffset.UtcNow));

            await Task.Delay(TimeSpan.FromSeconds(3));
            if (server.Owned)
            {
                var restartAt = DateTimeOffset.UtcNow;
                await server.RestartImmediateAsync();
                disturbances.Add(new Disturbance("server restart", null, restartAt, DateTimeOffset.UtcNow));
            }

            await Task.Delay(TimeSpan.FromSeconds(4));
            await stopProducing.CancelAsync();
            await producer;
            var last = DateTimeOffset.UtcNow.AddSeconds(-1);

            // Quiet: wait (bounded, never asserted on time) until everything expected has ended, then stop gracefully.
            var expectedOccurrences = Seconds(first, last).Select(s => RunKeys.Occurrence("fleet-every-second", s)).ToList();
            var expected = expectedOccurrences.Concat(accepted).ToList();
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (DateTime.UtcNow < deadline && (await SucceededAsync(connectionString, schema, expected)).Count < expected.Count)
            {
                await Task.Delay(250);
            }

            await client.StopAsync();
            foreach (var process in processes)
            {
                Signal("TERM", process!.Id);
                await process.WaitForExitAsync();
            }

            await CheckAsync(connectionString, schema, log, expectedOccurrences, accepted, last, disturbances);
        }
        finally
        {
            foreach (var process in processes.Where(p => p is { HasExited: false }))
            {
                process!.Kill(entireProcessTree: true);
            }

            foreach (var file in Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*"))
            {
                File.Delete(file);
            }

            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }

    [Test]
    public async Task ThreeProcesses_ASkipSchedulesRunsNeverOverlap_TheOthersAreRecordedSkipped()
    {
        // Every second a run that takes 2.5 s, under Skip, on three instances (one with its clock seconds ahead): each
        // instance sees only its own runs, so only the store can keep a second instance from starting one meanwhile.
        var server = await PostgreSqlServer.GetAsync();
        string schema = PostgreSqlTestStores.NewSchema();
        string log = Path.Combine(Path.GetTempPath(), "ds-fleet-overlap-" + Guid.NewGuid().ToString("N")[..8] + ".log");
        var processes = new Process?[3];
        try
        {
            for (int i = 0; i < 3; i++)
            {
                processes[i] = await StartAsync(server.ConnectionString, schema, log, i, "overlap");
            }

            await Task.Delay(TimeSpan.FromSeconds(12));
            foreach (var process in processes)
            {
                Signal("TERM", process!.Id);
                await process.WaitForExitAsync();
            }

            var events = Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*")
                .SelectMany(File.ReadAllLines)
                .Select(line => line.Split('|'))
                .Select(f => (Phase: f[0], Key: f[1], Pid: int.Parse(f[2], CultureInfo.InvariantCulture), At: long.Parse(f[4], CultureInfo.InvariantCulture)))
                .ToList();
            var runs = events.Where(e => e.Phase == "start")
                .Select(s => (s.Key, s.Pid, Start: s.At, End: events.Where(e => e.Phase == "end" && e.Key == s.Key && e.Pid == s.Pid).Select(e => (long?)e.At).FirstOrDefault()))
                .OrderBy(r => r.Start)
                .ToList();
            runs.Count.Should().BeGreaterThanOrEqualTo(3, "about one run every 2.5 s");
            runs.Select(r => r.Pid).Distinct().Count().Should().BeGreaterThan(1, "the instances take turns");
            for (int i = 1; i < runs.Count; i++)
            {
                var before = runs[i - 1];
                before.End.Should().NotBeNull($"{before.Key} ran to its end before the next started (stopped gracefully only at the end)");
                runs[i].Start.Should().BeGreaterThanOrEqualTo(before.End!.Value, $"{runs[i].Key} (pid {runs[i].Pid}) must not start while {before.Key} (pid {before.Pid}) runs");
            }

            await using var connection = new NpgsqlConnection(server.ConnectionString + ";Pooling=false");
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT count(*) FILTER (WHERE status = 5), count(*) FILTER (WHERE status = 2) FROM \"{schema}\".runs WHERE schedule_id = 'fleet-no-overlap'", connection);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            reader.GetInt64(0).Should().BeGreaterThan(0, "the occurrences that fell due while a run was active are recorded as skipped");
            reader.GetInt64(1).Should().BeGreaterThanOrEqualTo(runs.Count - 3, "the runs that ended are recorded (the last ones may have been stopped)");
        }
        finally
        {
            foreach (var process in processes.Where(p => p is { HasExited: false }))
            {
                process!.Kill(entireProcessTree: true);
            }

            foreach (var file in Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*"))
            {
                File.Delete(file);
            }

            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }

    private static async Task CheckAsync(string connectionString, string schema, string log, List<string> occurrences, List<string> accepted,
        DateTimeOffset last, List<Disturbance> disturbances)
    {
        var rows = new Dictionary<string, (short Status, int Attempt)>();
        await using (var connection = new NpgsqlConnection(connectionString + ";Pooling=false"))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT idem_key, status, attempt, due FROM \"{schema}\".runs", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add(reader.GetString(0), (reader.GetInt16(1), reader.GetInt32(2)));
                if (reader.GetInt64(3) <= last.UtcTicks)
                {
                    ((RunStatus)reader.GetInt16(1)).Should().NotBe(RunStatus.Pending, $"{reader.GetString(0)} was due before the end: nothing is stuck").And.NotBe(RunStatus.Running);
                }
            }
        }

        var invocations = Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*")
            .SelectMany(File.ReadAllLines)
            .Select(line => line.Split('|'))
            .Where(f => f[0] == "start")
            .Select(f => new Invocation(f[1], int.Parse(f[2], CultureInfo.InvariantCulture), DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(f[4], CultureInfo.InvariantCulture))))
            .ToLookup(i => i.Key);

        var missing = occurrences.Concat(accepted).Where(k => !rows.TryGetValue(k, out var row) || (RunStatus)row.Status != RunStatus.Succeeded).ToList();
        missing.Should().BeEmpty("every expected occurrence ({0}) and acknowledged run ({1}) has exactly one record, ended as succeeded", occurrences.Count, accepted.Count);
        occurrences.Concat(accepted).Where(k => !invocations.Contains(k)).Should().BeEmpty("a succeeded run was really handled");

        var unexplained = new List<string>();
        int duplicated = 0;
        foreach (var group in invocations)
        {
            var runs = group.ToList();
            if (runs.Count < 2)
            {
                continue;
            }

            duplicated++;
            int explained = runs.Count(i => disturbances.Any(d => d.Explains(i)));
            if (explained < runs.Count - 1)
            {
                unexplained.Add($"{group.Key}: {string.Join(", ", runs.Select(i => $"pid {i.Pid} at {i.At:HH:mm:ss.fff}"))}");
            }
        }

        unexplained.Should().BeEmpty("a handler runs again only when a killed, paused or cut-off process (or the server restart) explains it; disturbances: {0}",
            string.Join("; ", disturbances));
        TestContext.Progress.WriteLine($"fleet: {occurrences.Count} occurrences, {accepted.Count} one-time runs, {invocations.Count} keys handled, {duplicated} handled more than once (all explained)");
    }

    private static IEnumerable<DateTimeOffset> Seconds(DateTimeOffset from, DateTimeOffset to)
    {
        var second = new DateTimeOffset(from.UtcTicks - (from.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero).AddSeconds(1);
        for (; second <= to; second = second.AddSeconds(1))
        {
            yield return second;
        }
    }

    private static async Task<HashSet<string>> SucceededAsync(string connectionString, string schema, List<string> keys)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT idem_key FROM \"{schema}\".runs WHERE status = 2 AND idem_key = ANY(@keys)", connection);
            command.Parameters.AddWithValue("keys", keys.ToArray());
            var done = new HashSet<string>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                done.Add(reader.GetString(0));
            }

            return done;
        }
        catch (NpgsqlException)
        {
            return []; // the server may still be starting
        }
    }

    private static async Task<Process> StartAsync(string connectionString, string schema, string log, int instance, string workflows = "")
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        var skew = instance == 2 ? s_skew : TimeSpan.Zero;
        foreach (var arg in new[] { s_host, connectionString, schema, log, instance.ToString(CultureInfo.InvariantCulture), ((int)skew.TotalMilliseconds).ToString(CultureInfo.InvariantCulture), workflows })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line == "ready")
            {
                return process;
            }
        }

        Assert.Fail($"Fleet instance {instance} exited before it was ready (exit code {process.ExitCode}).");
        return process;
    }

    private static async Task<IHost> StartClientAsync(string connectionString, string schema)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddScheduling(o =>
        {
            o.WorkflowTypes.Add(typeof(FleetWorkflows));
            o.ExecuteRuns = false;
        }).UsePostgreSql(connectionString + ";Application Name=fleet-client", o => o.Schema = schema);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", $"-{signal} {pid}")!;
        kill.WaitForExit();
        kill.ExitCode.Should().Be(0);
    }

    private sealed record Invocation(string Key, int Pid, DateTimeOffset At);

    /// <summary>A fault: of one process (by pid), or of all (the server), over a window.</summary>
    private sealed record Disturbance(string What, int? Pid, DateTimeOffset From, DateTimeOffset To)
    {
        public bool Explains(Invocation invocation) =>
            (Pid is null || Pid == invocation.Pid) && invocation.At >= From - s_margin && invocation.At <= To + s_margin;

        public override string ToString() => $"{What} {(Pid is null ? "all" : "pid " + Pid)} {From:HH:mm:ss.fff}-{To:HH:mm:ss.fff}";
    }
}
