using System.Diagnostics;
using System.Globalization;
using FluentAssertions;
using Microsoft.Data.Sqlite;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>
/// Crash safety with real processes killed for real (SIGKILL), checked like Jepsen's checker for Chronos: every
/// expected occurrence in the window has exactly one completed record; an invocation beyond one is explained by a
/// kill of the process that made it; nothing is missing; the file passes <c>PRAGMA integrity_check</c>.
/// Covers reliability scenarios A (process crash), B6 (several processes on one file, lease takeover) and B3 (a paused
/// process's late completion).
/// </summary>
[TestFixture]
[Category("Slow")]
[NonParallelizable]
public sealed class SqliteCrashSafetyTests
{
    private const int Kills = 22;
    private const int Burst = 300;
    private static readonly string s_host = Path.Combine(AppContext.BaseDirectory, "Durable.Scheduling.CrashHost.dll");

    [Test]
    public async Task KilledAndRestarted_OneProcess_EveryOccurrenceCompletesExactlyOnce()
    {
        await RunScenarioAsync(processes: 1, seed: 17);
    }

    [Test]
    public async Task KilledAndRestarted_TwoProcessesOnOneFile_ZeroDuplicates()
    {
        await RunScenarioAsync(processes: 2, seed: 29);
    }

    [Test]
    public async Task PausedPastItsLease_LateCompletionChangesNothing()
    {
        // Scenario B3 on SQLite: process A is paused (SIGSTOP) in the middle of a 4 s handler, longer than its 2 s
        // lease; process B takes the run over and completes it; A resumes, finishes its handler, and its late
        // completion must be refused by the lease token.
        string database = SqliteTestFiles.NewFile("pause");
        string log = database + ".observer.log";
        const string Key = "crash-slow#slow-0";
        try
        {
            var (a, _) = await StartAsync(database, log, 0, seconds: 0, slow: 1);
            await WaitForLineAsync(log, $"start|{Key}|{a.Id}");

            // Not inside a write: a process frozen in a SQLite write transaction holds the file's write lock, and no
            // other process can write until it resumes. A's last write before its handler began is its claim; its first
            // after is a lease renewal, a third of the 2 s lease later, so a short settle stops it between the two. The
            // host pauses its every-second schedule in this scenario, but a poll may still write: when the frozen A
            // holds the lock, it is let go and frozen again a moment later.
            await Task.Delay(TimeSpan.FromMilliseconds(200));
            Signal("STOP", a.Id);
            for (int attempt = 1; !await IsWriteLockFreeAsync(database); attempt++)
            {
                attempt.Should().BeLessThan(20, "A must be frozen outside a write transaction");
                Signal("CONT", a.Id);
                await Task.Delay(TimeSpan.FromMilliseconds(30));
                Signal("STOP", a.Id);
            }

            var (b, _) = await StartAsync(database, log, 0, seconds: 0, slow: 1);
            await WaitForLineAsync(log, $"end|{Key}|{b.Id}", database);
            var completedByB = await ReadEndedRunAsync(database, Key); // the handler's end is logged before its outcome is stored
            completedByB.Should().Be(((int)RunStatus.Succeeded, 2), "B took the run over (attempt 2) and completed it");
            long completedAt = await ReadCompletedAsync(database, Key);

            Signal("CONT", a.Id);
            await WaitForLineAsync(log, $"end|{Key}|{a.Id}"); // A finished its handler after all...
            await Task.Delay(TimeSpan.FromSeconds(1)); // ...and tried to record it (it is not observable otherwise)
            (await ReadRunAsync(database, Key)).Should().Be(completedByB, "A's late completion changed nothing");
            (await ReadCompletedAsync(database, Key)).Should().Be(completedAt);

            foreach (var process in new[] { a, b })
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        finally
        {
            DeleteFiles(database, log);
        }
    }

    [Test]
    public async Task KilledBetweenClaimAndCompletion_AndStartedAgain_RerunsTheRunAtOnce_NotWhenItsLeaseExpires()
    {
        // Scenario A2 on one node, with no instance id and a lease of a day (so it cannot expire during the test): the
        // restarted process sees that the process holding the lease is gone (the same machine, its process no longer
        // running) and frees the run at once.
        string database = SqliteTestFiles.NewFile("restart");
        string log = database + ".observer.log";
        const string Key = "crash-slow#slow-0";
        try
        {
            var (a, _) = await StartAsync(database, log, 0, seconds: 0, slow: 1, longLease: true);
            await WaitForLineAsync(log, $"start|{Key}|{a.Id}");
            Signal("KILL", a.Id);
            await a.WaitForExitAsync();
            (await ReadRunAsync(database, Key)).Should().Be(((int)RunStatus.Running, 1), "killed while its handler ran");

            var (b, _) = await StartAsync(database, log, 0, seconds: 0, slow: 1, longLease: true);
            await WaitForLineAsync(log, $"end|{Key}|{b.Id}", database); // within a minute, where the lease lasts a day
            (await ReadEndedRunAsync(database, Key)).Should().Be(((int)RunStatus.Succeeded, 2));
            b.Kill(entireProcessTree: true);
            await b.WaitForExitAsync();
        }
        finally
        {
            DeleteFiles(database, log);
        }
    }

    /// <summary>Deletes a scenario's database and every process's observer log.</summary>
    private static void DeleteFiles(string database, string log)
    {
        SqliteTestFiles.Delete(database);
        foreach (var file in Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*"))
        {
            File.Delete(file);
        }
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start("kill", $"-{signal} {pid}")!;
        kill.WaitForExit();
        kill.ExitCode.Should().Be(0);
    }

    private static async Task WaitForLineAsync(string log, string line, string? database = null)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60); // a bound, never an assertion on time
        while (DateTime.UtcNow < deadline)
        {
            foreach (var file in Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*"))
            {
                if ((await File.ReadAllLinesAsync(file)).Contains(line))
                {
                    return;
                }
            }

            await Task.Delay(50);
        }

        // What the processes logged and, when known, the run rows: enough to tell a lock held by a frozen process from
        // a takeover that never happened.
        var logged = string.Join(" / ", Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*").SelectMany(File.ReadAllLines));
        string rows = database is null ? "" : await DescribeRunsAsync(database);
        Assert.Fail($"'{line}' never appeared in the observer log. Logged: {logged}. Runs: {rows}");
    }

    /// <summary>Whether another connection can take the file's write lock now (then gives it back at once).</summary>
    private static async Task<bool> IsWriteLockFreeAsync(string database)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandTimeout = 1;
        command.CommandText = "BEGIN IMMEDIATE";
        try
        {
            await command.ExecuteNonQueryAsync();
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6) // SQLITE_BUSY, SQLITE_LOCKED
        {
            return false;
        }

        command.CommandText = "ROLLBACK";
        await command.ExecuteNonQueryAsync();
        return true;
    }

    private static async Task<string> DescribeRunsAsync(string database)
    {
        try
        {
            await using var connection = new SqliteConnection($"Data Source={database};Pooling=False;Mode=ReadOnly");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT idem_key, status, attempt, lease_owner, lease_expires FROM ds_runs";
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<string>();
            while (await reader.ReadAsync())
            {
                rows.Add($"{reader.GetString(0)} status {reader.GetInt32(1)} attempt {reader.GetInt32(2)} owner {(reader.IsDBNull(3) ? "-" : reader.GetString(3))} expires {(reader.IsDBNull(4) ? "-" : reader.GetInt64(4))}");
            }

            return string.Join("; ", rows);
        }
        catch (SqliteException e)
        {
            return "unreadable: " + e.Message;
        }
    }

    private static async Task<(int Status, int Attempt)> ReadRunAsync(string database, string key)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT status, attempt FROM ds_runs WHERE idem_key = $key";
        command.Parameters.AddWithValue("$key", key);
        await using var reader = await command.ExecuteReaderAsync();
        reader.Read().Should().BeTrue();
        return (reader.GetInt32(0), reader.GetInt32(1));
    }

    /// <summary>The run once it is no longer running (waited for, within a bound that is never an assertion on time).</summary>
    private static async Task<(int Status, int Attempt)> ReadEndedRunAsync(string database, string key)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var run = await ReadRunAsync(database, key);
        while (run.Status == (int)RunStatus.Running && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            run = await ReadRunAsync(database, key);
        }

        return run;
    }

    private static async Task<long> ReadCompletedAsync(string database, string key)
    {
        await using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT completed FROM ds_runs WHERE idem_key = $key";
        command.Parameters.AddWithValue("$key", key);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    private static async Task RunScenarioAsync(int processes, int seed)
    {
        string database = SqliteTestFiles.NewFile("crash");
        string log = database + ".observer.log";
        var random = new Random(seed);
        var killed = new HashSet<int>();
        long windowStart = 0;
        try
        {
            // Each slot (one per process) is killed and restarted at random moments, independently.
            var slots = Enumerable.Range(0, processes).Select(_ => (Process?)null).ToArray();
            for (int kill = 0; kill < Kills; kill++)
            {
                for (int slot = 0; slot < processes; slot++)
                {
                    if (slots[slot] is null)
                    {
                        var (process, started) = await StartAsync(database, log, Burst, seconds: 0);
                        slots[slot] = process;
                        windowStart = windowStart == 0 ? started : windowStart;
                    }
                }

                await Task.Delay(random.Next(200, 1200)); // often inside a handler or between claim and completion
                int victim = random.Next(processes);
                var target = slots[victim]!;
                killed.Add(target.Id);
                target.Kill(entireProcessTree: true); // SIGKILL
                await target.WaitForExitAsync();
                target.Dispose();
                slots[victim] = null;
            }

            foreach (var survivor in slots.Where(p => p is not null))
            {
                killed.Add(survivor!.Id);
                survivor.Kill(entireProcessTree: true);
                await survivor.WaitForExitAsync();
            }

            // A last, clean run: leases of the killed processes expire and their runs are taken over.
            var (final, _) = await StartAsync(database, log, Burst, seconds: 6);
            long windowEnd = DateTimeOffset.UtcNow.AddSeconds(2).UtcTicks; // checked up to 4 s before the clean stop
            await final.WaitForExitAsync();
            final.ExitCode.Should().Be(0);

            Check(database, log, killed, windowStart, windowEnd, processes);
        }
        finally
        {
            DeleteFiles(database, log);
        }
    }

    private static async Task<(Process Process, long StartedTicks)> StartAsync(string database, string log, int burst, int seconds, int slow = 0, bool longLease = false)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { s_host, database, log, burst.ToString(CultureInfo.InvariantCulture), seconds.ToString(CultureInfo.InvariantCulture), slow.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        if (longLease)
        {
            info.ArgumentList.Add("long-lease");
        }

        var process = Process.Start(info)!;
        long started = 0;
        while (await process.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("starting ", StringComparison.Ordinal))
            {
                started = long.Parse(line["starting ".Length..], CultureInfo.InvariantCulture);
            }

            if (line == "ready")
            {
                break;
            }
        }

        started.Should().BePositive("the host must report its start");
        _ = process.StandardOutput.ReadToEndAsync(); // keep draining
        return (process, started);
    }

    private static void Check(string database, string log, HashSet<int> killed, long windowStart, long windowEnd, int processes)
    {
        // The database: one record per key, every expected occurrence and every burst run succeeded exactly once.
        var records = new Dictionary<string, (int Status, long Scheduled)>(StringComparer.Ordinal);
        using (var connection = new SqliteConnection($"Data Source={database};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA integrity_check";
            command.ExecuteScalar().Should().Be("ok");
            command.CommandText = "SELECT count(*) FROM (SELECT workflow, scheduled FROM ds_runs WHERE kind = 0 GROUP BY workflow, scheduled HAVING count(*) > 1)";
            command.ExecuteScalar().Should().Be(0L, "no occurrence has two records");
            command.CommandText = "SELECT idem_key, status, scheduled FROM ds_runs";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                records.Add(reader.GetString(0), (reader.GetInt32(1), reader.GetInt64(2)));
            }
        }

        long firstSecond = ((windowStart / TimeSpan.TicksPerSecond) + 2) * TimeSpan.TicksPerSecond;
        var expected = new List<string>();
        for (long t = firstSecond; t <= windowEnd; t += TimeSpan.TicksPerSecond)
        {
            expected.Add("crash-every-second@" + new DateTime(t, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture));
        }

        expected.AddRange(Enumerable.Range(0, Burst).Select(i => "crash-one-time#burst-" + i.ToString(CultureInfo.InvariantCulture)));
        expected.Count.Should().BeGreaterThan(Burst + 10, "the window must span many seconds");
        var missing = expected.Where(k => !records.TryGetValue(k, out var r) || r.Status != (int)RunStatus.Succeeded).ToList();
        missing.Should().BeEmpty("every expected occurrence and one-time run has exactly one completed record");

        // The observer log: invocations beyond one per key come from processes that were killed.
        var lines = Directory.GetFiles(Path.GetDirectoryName(log)!, Path.GetFileName(log) + ".*")
            .SelectMany(File.ReadAllLines).Select(l => l.Split('|')).Where(p => p.Length == 3).ToList();
        var starts = lines.Where(p => p[0] == "start").GroupBy(p => p[1]).ToDictionary(g => g.Key, g => g.Select(p => int.Parse(p[2], CultureInfo.InvariantCulture)).ToList());
        var ends = lines.Where(p => p[0] == "end").Select(p => p[1]).ToHashSet();
        foreach (var key in expected)
        {
            starts.Should().ContainKey(key, "a completed run's handler was invoked");
            ends.Should().Contain(key, "a completed run's handler returned");
            // Every invocation beyond one must come from a process that was killed: at most one may come from a
            // process that was not, and no process runs the same run twice.
            var pids = starts[key];
            pids.Should().OnlyHaveUniqueItems($"no process invokes {key} twice");
            pids.Count(pid => !killed.Contains(pid)).Should().BeLessThanOrEqualTo(1, $"an extra invocation of {key} (by {string.Join(", ", pids)}) must be explained by a kill");
        }

        int duplicates = starts.Values.Sum(p => p.Count - 1);
        TestContext.Out.WriteLine($"{processes} process(es): {Kills} kills, {expected.Count} expected runs all completed once, {duplicates} re-invocations after kills, {starts.Values.SelectMany(p => p).Distinct().Count()} process ids seen.");
        if (processes == 2)
        {
            starts.Values.SelectMany(p => p).Distinct().Count().Should().BeGreaterThan(2, "both processes did work");
        }
    }
}
