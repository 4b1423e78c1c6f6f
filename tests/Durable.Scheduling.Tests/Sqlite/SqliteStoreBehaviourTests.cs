using System.Security.Cryptography;
using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>What only the SQLite store has to prove: schema, durability, locking, bad data and sharing a file.</summary>
[TestFixture]
public sealed class SqliteStoreBehaviourTests
{
    private static readonly DateTimeOffset s_now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private string _file = null!;

    [SetUp]
    public void NewFile() => _file = SqliteTestFiles.NewFile();

    [TearDown]
    public void DeleteFile() => SqliteTestFiles.Delete(_file);

    private SqliteSchedulingStore NewStore(TimeSpan? busyTimeout = null) =>
        new(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}", BusyTimeout = busyTimeout ?? TimeSpan.FromSeconds(30) });

    private static ScheduledRun Run(DateTimeOffset at, string workflow = "send-reminder", string? input = null) =>
        TestRuns.OneTime(workflow, at, input, s_now);

    [Test]
    public async Task Schema_IsCreatedOnFirstUse_AndRecordsItsVersion()
    {
        await using (var store = NewStore())
        {
            await store.InsertAsync([Run(s_now)], default);
        }

        await using var connection = new SqliteConnection($"Data Source={_file}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT product || ' ' || version FROM ds_schema";
        (await command.ExecuteScalarAsync()).Should().Be("Durable.Scheduling 6");
        command.CommandText = "PRAGMA journal_mode";
        (await command.ExecuteScalarAsync()).Should().Be("wal");
    }

    [Test]
    public async Task PlanningLock_IsSharedByTheStoresOnTheFile_AndWithOtherProcesses_ThroughAnOsLockBesideIt()
    {
        await using var first = NewStore();
        await using var second = NewStore();
        await first.InsertAsync([Run(s_now)], default);
        var held = await first.EnterPlanningAsync(default);
        var waiting = second.EnterPlanningAsync(default).AsTask();
        await Task.Delay(200); // real time: only to give a wrongly granted lock the chance to show
        waiting.IsCompleted.Should().BeFalse("another store on the file holds it");
        await held.DisposeAsync();
        await (await waiting.WaitAsync(TimeSpan.FromSeconds(30))).DisposeAsync();

        // Another process holding it is an OS lock on the file beside the database (one taken here conflicts alike).
        var other = new FileStream(_file + "-planning", FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        var blocked = first.EnterPlanningAsync(default).AsTask();
        await Task.Delay(200);
        blocked.IsCompleted.Should().BeFalse("another process holds the file's lock");
        await other.DisposeAsync();
        await (await blocked.WaitAsync(TimeSpan.FromSeconds(30))).DisposeAsync();
    }

    [Test]
    public void Connections_KeepTheirDurabilitySettings_AndSavepointJournalsInMemory()
    {
        var options = new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}" };
        using var connection = new SqliteFile(options, options.ConnectionString, _file).Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous";
        command.ExecuteScalar().Should().Be(2L, "FULL by default");
        command.CommandText = "PRAGMA foreign_keys";
        command.ExecuteScalar().Should().Be(1L);
        command.CommandText = "PRAGMA temp_store";
        command.ExecuteScalar().Should().Be(2L, "MEMORY: each write's savepoint journal never goes to a temporary file");
    }

    [Test]
    public async Task Schema_FromVersion1File_MigratesForwardKeepingData()
    {
        // A file as version 1 wrote it: the first migration only, with one pending run.
        await Execute(Durable.Scheduling.Sqlite.SqliteSchema.Migrations[0]);
        var id = Guid.NewGuid();
        await using (var connection = new SqliteConnection($"Data Source={_file};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO ds_runs (id, workflow, kind, idem_key, scheduled, due, status, attempt, created) VALUES ($id, 'w', 1, $key, 1, 1, 0, 0, 1)";
            insert.Parameters.AddWithValue("$id", id.ToByteArray());
            insert.Parameters.AddWithValue("$key", "w#" + id.ToString("N"));
            await insert.ExecuteNonQueryAsync();
            insert.CommandText = "INSERT INTO ds_run_metadata (run_id, key, value) VALUES ($id, 'tenant', 'a')";
            await insert.ExecuteNonQueryAsync();
        }

        await using var store = NewStore();
        (await store.GetAsync(id, default))!.WorkflowName.Should().Be("w");
        var byMetadata = new RunQuery { Metadata = new Dictionary<string, string> { ["tenant"] = "a" }, ScheduledFrom = new DateTimeOffset(1, TimeSpan.Zero) };
        (await store.ListAsync(byMetadata, default)).Items.Should().ContainSingle("metadata rows learn their run's instant (migration 5) and move to the pairs' tree (migration 6)");
        (await store.ClaimAsync([id], s_now, TimeSpan.FromMinutes(1), "node-a", default)).Should().ContainSingle("the new lease_owner column is in place");
        await using var check = new SqliteConnection($"Data Source={_file};Pooling=False");
        await check.OpenAsync();
        await using var version = check.CreateCommand();
        version.CommandText = "SELECT version FROM ds_schema";
        (await version.ExecuteScalarAsync()).Should().Be(6L);
        version.CommandText = "SELECT count(*) FROM ds_run_pairs";
        (await version.ExecuteScalarAsync()).Should().Be(1L, "the pair was carried over");
    }

    [Test]
    public async Task Durability_IsWalWithSynchronousFull_ByDefault()
    {
        await using var store = NewStore();
        await store.InsertAsync([Run(s_now)], default); // the file is created on first use
        SqliteTestFiles.Pragma(_file, "journal_mode").Should().Be("wal", "the journal mode is stored in the file");
    }

    [Test]
    public async Task MetadataPairs_FollowTheirRun_WhenItIsDeletedRescheduledOrPurged()
    {
        // Values JSON escapes (quotes, backslash, non-ASCII, HTML-sensitive characters, an empty string): the triggers
        // find a run's pairs from its stored JSON, which must read back to exactly what was inserted.
        var metadata = new Dictionary<string, string> { ["tenant"] = "a\"b\\c", ["région"] = "é<>&'+ \U0001F600", ["empty"] = "", ["n"] = "1" };
        var runs = Enumerable.Range(0, 6).Select(i => Run(s_now.AddMinutes(i)) with { Metadata = metadata }).ToList();
        await using var store = NewStore();
        await store.InsertAsync(runs, default);
        Pairs().Should().Be(24);

        var moved = s_now.AddHours(5);
        await store.RescheduleAsync([new RunTimeChange(runs[0].Id, moved)], default);
        Pairs(runs[0].Id).Should().Be(4);
        Pairs(runs[0].Id, moved).Should().Be(4, "every pair moved to the run's new instant");
        var byTenant = new RunQuery { Metadata = new Dictionary<string, string> { ["tenant"] = "a\"b\\c", ["région"] = "é<>&'+ \U0001F600" } };
        (await store.ListAsync(byTenant, default)).Items.Select(r => r.Id).Should().Equal(runs.Skip(1).Select(r => r.Id).Append(runs[0].Id));

        (await store.DeleteAsync([runs[1].Id], default)).Should().BeEmpty();
        Pairs(runs[1].Id).Should().Be(0, "deleted by id");
        (await store.DeleteAsync(new RunQuery { ScheduledFrom = runs[2].ScheduledTime, ScheduledTo = runs[2].ScheduledTime.AddSeconds(1) }, default)).Should().Equal(runs[2].Id);
        Pairs(runs[2].Id).Should().Be(0, "deleted by a filter");

        var lease = (await store.ClaimAsync([runs[3].Id], s_now.AddMinutes(3), TimeSpan.FromMinutes(1), "node-a", default)).Single();
        await store.CompleteAsync([new RunCompletion(runs[3].Id, lease.Token, RunStatus.Succeeded, s_now.AddMinutes(3))], default);
        (await store.PurgeAsync(s_now.AddDays(1), 100, default)).Should().Be(1);
        Pairs(runs[3].Id).Should().Be(0, "purged");

        Pairs().Should().Be(12, "the three runs left keep theirs");
        (await store.ListAsync(byTenant, default)).Items.Select(r => r.Id).Should().Equal(runs[4].Id, runs[5].Id, runs[0].Id);
    }

    /// <summary>Metadata pairs stored (of one run, at one instant when given), read with SQL.</summary>
    private long Pairs(Guid? run = null, DateTimeOffset? at = null)
    {
        using var connection = new SqliteConnection($"Data Source={_file};Pooling=False");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM ds_run_pairs WHERE ($id IS NULL OR run_id = $id) AND ($at IS NULL OR scheduled = $at)";
        count.Parameters.AddWithValue("$id", run is { } id ? id.ToByteArray() : DBNull.Value);
        count.Parameters.AddWithValue("$at", at is { } t ? t.UtcTicks : DBNull.Value);
        return (long)count.ExecuteScalar()!;
    }

    [Test]
    public async Task Schema_WhenFileIsNotADatabase_IsRefusedNamingFile_AndNotModified()
    {
        await File.WriteAllBytesAsync(_file, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());
        var before = Hash();
        await using var store = NewStore();
        var act = async () => await store.GetAsync(Guid.NewGuid(), default);
        (await act.Should().ThrowAsync<SqliteSchemaException>()).Which.Message.Should().Contain(_file).And.Contain("not a SQLite database");
        Hash().Should().Equal(before);
    }

    [TestCase("TABLE", "ds_run_pairs")]
    [TestCase("TABLE", "ds_watermarks")]
    [TestCase("INDEX", "ds_runs_due")]
    [TestCase("TRIGGER", "ds_runs_pairs_delete")]
    [TestCase("TRIGGER", "ds_runs_pairs_move")]
    public async Task Schema_WhenATableIndexOrTriggerIsMissing_IsRefusedNamingIt_AndNotModified(string kind, string dropped)
    {
        await using (var store = NewStore())
        {
            await store.InsertAsync([Run(s_now)], default);
        }

        await using (var connection = new SqliteConnection($"Data Source={_file};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var drop = connection.CreateCommand();
            drop.CommandText = $"PRAGMA journal_mode = DELETE; DROP {kind} {dropped};";
            await drop.ExecuteNonQueryAsync();
        }

        var before = Hash();
        await using var damaged = NewStore();
        var act = async () => await damaged.InsertAsync([Run(s_now)], default);
        var error = (await act.Should().ThrowAsync<SqliteSchemaException>()).Which;
        error.Message.Should().Contain(_file).And.Contain(dropped).And.Contain("damaged");
        error.Should().BeAssignableTo<StoreUnusableException>("start-up fails with it rather than retrying for ever");
        Hash().Should().Equal(before, "a damaged file is refused unmodified");
    }

    [Test]
    public async Task TableDroppedWhileRunning_WritesFailWithTheContractsIOException_NamingTheFile_NeverAProviderException()
    {
        await using var store = NewStore();
        await store.InsertAsync([Run(s_now)], default);
        await using (var connection = new SqliteConnection($"Data Source={_file};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var drop = connection.CreateCommand();
            drop.CommandText = "DROP TABLE ds_run_pairs";
            await drop.ExecuteNonQueryAsync();
        }

        var withMetadata = TestRuns.OneTime("send-reminder", s_now, null, s_now) with { Metadata = new Dictionary<string, string> { ["customer"] = "a" } };
        var act = async () => await store.InsertAsync([withMetadata], default);
        var error = (await act.Should().ThrowAsync<IOException>()).Which;
        error.Message.Should().Contain(_file);
        error.Should().NotBeAssignableTo<SqliteException>();
        error.InnerException.Should().BeOfType<SqliteException>();
    }

    [Test]
    public void AReadOnlyConnectionString_IsRefusedAtConfiguration()
    {
        var act = () => new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file};Mode=ReadOnly" });
        act.Should().Throw<ArgumentException>().WithMessage("*read-only*Mode=ReadOnly*");
    }

    [Test]
    public async Task PathThroughARegularFile_IsReportedAsSuch()
    {
        await File.WriteAllTextAsync(_file, "not a folder");
        await using var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={Path.Combine(_file, "sub", "scheduling.db")}" });
        var act = async () => await store.GetAsync(Guid.NewGuid(), default);
        (await act.Should().ThrowAsync<StoreUnusableException>()).Which.Message.Should().Contain($"'{_file}' is a file, not a folder");
    }

    [Test]
    public async Task HostStart_OnAFileThatIsNotADatabase_FailsStartUp_NamingTheFile()
    {
        await File.WriteAllBytesAsync(_file, Enumerable.Range(0, 4096).Select(i => (byte)(i * 7)).ToArray());
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection();
        services.AddLogging();
        services.AddScheduling(o => o.WorkflowTypes.Add(typeof(Testing.EveryFiveSeconds))).UseSqlite($"Data Source={_file}");
        services.AddSingleton<Testing.RunLog>();
        await using var provider = services.BuildServiceProvider();
        var host = provider.GetRequiredService<Microsoft.Extensions.Hosting.IHostedService>();
        var act = () => host.StartAsync(CancellationToken.None);
        (await act.Should().ThrowAsync<SqliteSchemaException>()).Which.Message.Should().Contain(_file);
    }

    [Test]
    public async Task Schema_WhenManyStoresStartAtOnce_MigratesOnce()
    {
        var stores = Enumerable.Range(0, 6).Select(_ => NewStore()).ToList();
        await Task.WhenAll(stores.Select(s => Task.Run(async () => await s.InsertAsync([Run(s_now)], default))));
        foreach (var store in stores)
        {
            await store.DisposeAsync();
        }

        await using var connection = new SqliteConnection($"Data Source={_file}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM ds_schema";
        (await command.ExecuteScalarAsync()).Should().Be(1L);
        command.CommandText = "SELECT count(*) FROM ds_runs";
        (await command.ExecuteScalarAsync()).Should().Be(6L);
    }

    [Test]
    public async Task Schema_WhenFileIsNewer_IsRefusedNamingFileAndVersions_AndNotModified()
    {
        await using (var store = NewStore())
        {
            await store.InsertAsync([Run(s_now)], default);
        }

        await Execute("UPDATE ds_schema SET version = 99");
        var before = Hash();
        await using var newer = NewStore();
        var act = async () => await newer.GetAsync(Guid.NewGuid(), default);
        var error = (await act.Should().ThrowAsync<SqliteSchemaException>()).Which;
        error.Message.Should().Contain(_file).And.Contain("99").And.Contain("up to 6");
        error.FoundVersion.Should().Be(99);
        Hash().Should().Equal(before, "a refused file is never written");
    }

    [Test]
    public async Task Schema_WhenFileHasForeignTables_IsRefused()
    {
        await Execute("CREATE TABLE ds_runs (x INTEGER); INSERT INTO ds_runs VALUES (1);");
        var before = Hash();
        await using var store = NewStore();
        var act = async () => await store.GetAsync(Guid.NewGuid(), default);
        (await act.Should().ThrowAsync<SqliteSchemaException>()).Which.Message.Should().Contain(_file).And.Contain("no schema record");
        Hash().Should().Equal(before);
    }

    [Test]
    public async Task Runs_SurviveReopening()
    {
        var run = Run(s_now, input: """{"customerId":1}""");
        await using (var store = NewStore())
        {
            await store.InsertAsync([run], default);
            await store.AdvanceWatermarkAsync("cron", s_now, default);
        }

        await using var reopened = NewStore();
        (await reopened.GetAsync(run.Id, default))!.Input.Should().Be(run.Input);
        (await reopened.GetWatermarkAsync("cron", default)).Should().Be(s_now);
    }

    [Test]
    public async Task WriteLock_HeldByAnotherConnection_IsWaitedOut()
    {
        await using var store = NewStore();
        await store.InsertAsync([Run(s_now)], default);
        await using var blocker = new SqliteConnection($"Data Source={_file}");
        await blocker.OpenAsync();
        var transaction = blocker.BeginTransaction(deferred: false); // holds the write lock
        var insert = store.InsertAsync([Run(s_now.AddMinutes(1))], default).AsTask();
        await Task.Delay(300);
        insert.IsCompleted.Should().BeFalse("the writer waits for the lock");
        transaction.Commit();
        (await insert).Single().Created.Should().BeTrue();
    }

    [Test]
    public async Task WriteLock_HeldPastBusyTimeout_FailsWithTimeout_NotSqliteError()
    {
        await using var store = NewStore(TimeSpan.FromMilliseconds(200));
        await store.InsertAsync([Run(s_now)], default);
        await using var blocker = new SqliteConnection($"Data Source={_file}");
        await blocker.OpenAsync();
        using var transaction = blocker.BeginTransaction(deferred: false);
        var act = async () => await store.InsertAsync([Run(s_now.AddMinutes(1))], default);
        (await act.Should().ThrowAsync<TimeoutException>()).Which.Message.Should().Contain(_file);
    }

    [Test]
    public async Task DiskFull_FailsWritesWithIOException_ChangesNothing_AndRecoversWhenSpaceIsFreed()
    {
        await using (var setup = NewStore())
        {
            await setup.InsertAsync([Run(s_now)], default); // create the schema
        }

        await using var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}", MaxPageCount = 40 });
        var stored = new List<Guid>();
        IOException? full = null;
        for (int i = 0; i < 400 && full is null; i++)
        {
            var run = Run(s_now.AddSeconds(i), input: new string('x', 4000));
            try
            {
                await store.InsertAsync([run], default);
                stored.Add(run.Id);
            }
            catch (IOException e)
            {
                full = e;
                (await store.GetAsync(run.Id, default)).Should().BeNull("a failed write leaves nothing behind");
            }
        }

        full.Should().NotBeNull("the database reaches its size cap");
        full!.Message.Should().Contain(_file).And.Contain("full");
        full.InnerException.Should().BeOfType<SqliteException>();

        (await store.DeleteAsync(stored.Take(10).ToList(), default)).Should().BeEmpty();
        (await store.InsertAsync([Run(s_now.AddDays(1), input: new string('y', 4000))], default)).Single().Created.Should().BeTrue("freed space is reused");
        SqliteTestFiles.IntegrityCheck(_file).Should().Be("ok");
    }

    [Test]
    public async Task ALongWrite_CommitsAlone_AllOrNothing_WhileShortWritesQueuedWithItCommit()
    {
        // A write of thousands of statements is committed in a transaction of its own, without a savepoint: when it
        // fails (here the file reaches its size cap), nothing of it stays, and the short writes queued with it are not
        // undone with it.
        await using (var setup = NewStore())
        {
            await setup.InsertAsync([Run(s_now)], default); // create the schema
            var watermarks = Enumerable.Range(0, 5000).Select(i => KeyValuePair.Create("w" + i, s_now.AddSeconds(i))).ToList();
            await setup.AdvanceWatermarksAsync(watermarks, default);
            (await setup.GetWatermarksAsync(["w0", "w4999"], default)).Should().BeEquivalentTo(
                new Dictionary<string, DateTimeOffset> { ["w0"] = s_now, ["w4999"] = s_now.AddSeconds(4999) }, "a long write that succeeds is committed whole");
        }

        await using var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}", MaxPageCount = 400 });
        var longRuns = Enumerable.Range(0, 1500).Select(i => Run(s_now.AddSeconds(i), "long", input: new string('x', 2000))).ToList();
        var shortRuns = Enumerable.Range(0, 8).Select(i => Run(s_now.AddSeconds(i), "short")).ToList();
        var longWrite = store.InsertAsync(longRuns, default).AsTask();
        var shortWrites = shortRuns.Select(r => store.InsertAsync([r], default).AsTask()).ToList();

        (await longWrite.Invoking(w => w).Should().ThrowAsync<IOException>()).Which.Message.Should().Contain("full");
        (await Task.WhenAll(shortWrites)).Should().AllSatisfy(r => r.Single().Created.Should().BeTrue());
        (await store.ListAsync(new RunQuery { WorkflowName = "long" }, default)).Items.Should().BeEmpty("a failed write leaves nothing behind");
        (await store.ListAsync(new RunQuery { WorkflowName = "short" }, default)).Items.Should().HaveCount(8);
        SqliteTestFiles.IntegrityCheck(_file).Should().Be("ok");
    }

    [Test]
    public async Task TwoStoresOnOneFile_ClaimEachRunOnce()
    {
        await using var first = NewStore();
        await using var second = NewStore();
        var runs = Enumerable.Range(0, 300).Select(i => Run(s_now.AddMilliseconds(-i))).ToList();
        await first.InsertAsync(runs, default);
        var ids = runs.Select(r => r.Id).ToList();
        var claims = await Task.WhenAll(
            Enumerable.Range(0, 4).Select(i => Task.Run(async () => await (i % 2 == 0 ? first : second).ClaimAsync(ids, s_now, TimeSpan.FromMinutes(1), "node-" + i, default))));
        claims.SelectMany(c => c).Select(l => l.Run.Id).Should().OnlyHaveUniqueItems().And.HaveCount(300);
        SqliteTestFiles.IntegrityCheck(_file).Should().Be("ok");
    }

    [Test]
    public async Task UndeserializableInput_FailsThatRunAfterRetries_WithoutBlockingOthers()
    {
        var store = NewStore();
        await using var harness = new SchedulerHarness(s_now, [typeof(OneTimeWorkflows)], store: store);
        await harness.StartAsync();
        // An input stored by an older version of the application, which the handler's type no longer reads.
        var bad = TestRuns.OneTime("send-reminder", s_now.AddSeconds(1), """{"customerId":"not a number"}""", s_now);
        await store.InsertAsync([bad], default);
        var good = await harness.Scheduler.ScheduleAsync("send-reminder", s_now.AddSeconds(2), new Reminder(7, "fine"));
        await harness.RunForAsync(TimeSpan.FromMinutes(1));

        var failed = await harness.Scheduler.GetAsync(bad.Id);
        failed!.Status.Should().Be(RunStatus.Failed);
        failed.Error!.Type.Should().Be("System.Text.Json.JsonException");
        (await harness.Scheduler.GetAsync(good.Id))!.Status.Should().Be(RunStatus.Succeeded);
        (await harness.Scheduler.ListAsync(new RunQuery())).Items.Should().HaveCount(2);
    }

    [Test]
    public async Task CatchUp_AfterRestartOnSameFile_RunsMissedOccurrences()
    {
        var start = s_now;
        await using (var before = new SchedulerHarness(start, [typeof(CatchUpWorkflows)], store: NewStore()))
        {
            await before.StartAsync();
            await before.RunForAsync(TimeSpan.FromMinutes(30));
        }

        await using var after = new SchedulerHarness(start.AddMinutes(95), [typeof(CatchUpWorkflows)], store: NewStore());
        await after.StartAsync();
        after.Log.Of("catchup-all").Select(r => (int)(r.Scheduled - start).TotalMinutes).Order().Should().Equal(40, 50, 60, 70, 80, 90);
        after.Log.Of("catchup-latest").Select(r => (int)(r.Scheduled - start).TotalMinutes).Should().Equal(90);
        after.Log.Of("catchup-active").Should().BeEmpty();
    }

    private async Task Execute(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={_file};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private byte[] Hash()
    {
        using var stream = File.OpenRead(_file);
        return SHA256.HashData(stream);
    }
}
