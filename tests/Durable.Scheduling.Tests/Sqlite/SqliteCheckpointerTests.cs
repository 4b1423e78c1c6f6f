using System.Reflection;
using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Data.Sqlite;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>
/// WAL checkpoints taken off the writer: the writer's commits no longer checkpoint, the checkpointer copies the WAL into
/// the database once enough pages were appended, and after a failed checkpoint SQLite checkpoints in the commits again.
/// </summary>
[TestFixture]
public sealed class SqliteCheckpointerTests
{
    private static readonly DateTimeOffset s_now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private string _file = null!;

    [SetUp]
    public void NewFile() => _file = SqliteTestFiles.NewFile("checkpoint");

    [TearDown]
    public void DeleteFile() => SqliteTestFiles.Delete(_file);

    [Test]
    public async Task TryStart_OnARollbackJournal_LeavesCheckpointsToSqlite()
    {
        var options = new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}" };
        var file = new SqliteFile(options, options.ConnectionString, _file);
        await using var writer = file.Open();
        Scalar(writer, "PRAGMA journal_mode = DELETE");
        SqliteCheckpointer.TryStart(file, writer).Should().BeNull("only a WAL is checkpointed");
        Scalar(writer, "PRAGMA wal_autocheckpoint").Should().Be(1000L, "untouched");
    }

    [Test]
    public async Task Store_CheckpointsBesideItsWriter_OnceAThousandPagesWereAppended()
    {
        await using var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}" });
        await store.InsertAsync([Run(0)], default);
        var queue = Field(store, "_writes")!;
        Field(queue, "_checkpointer").Should().NotBeNull("the file is in WAL mode");
        var writer = (SqliteConnection)Field(queue, "_writer")!;
        Scalar(writer, "PRAGMA wal_autocheckpoint").Should().Be(0L, "the writer's commits do not checkpoint (read while it waits for work)");
        long before = new FileInfo(_file).Length;

        // About 5 MB of runs (inputs of 2 KB): past a thousand pages of 4 KiB in the WAL. Only a checkpoint copies pages
        // into the database file, and the writer no longer makes one.
        var runs = Enumerable.Range(1, 2500).Select(i => Run(i, new string('x', 2000))).ToList();
        foreach (var batch in runs.Chunk(100))
        {
            await store.InsertAsync(batch, default);
        }

        await WaitUntil(() => new FileInfo(_file).Length > before + (2 << 20), "the checkpointer copies the WAL into the database");
        (await store.GetAsync(runs[^1].Id, default))!.Input.Should().Be(runs[^1].Input, "what was written reads back");
        (await store.ListAsync(new RunQuery { ScheduledFrom = s_now.AddSeconds(1), PageSize = 1000 }, default)).Items.Select(r => r.Id).Should().Equal(runs.Take(1000).Select(r => r.Id));
    }

    [Test]
    public async Task AfterAFailedCheckpoint_TheWriterLetsSqliteCheckpointAgain()
    {
        await using var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}" });
        await store.InsertAsync([Run(0)], default);
        var queue = Field(store, "_writes")!;
        var checkpointer = (SqliteCheckpointer)Field(queue, "_checkpointer")!;
        var writer = (SqliteConnection)Field(queue, "_writer")!;

        // Its connection is gone: the next checkpoint fails.
        ((SqliteConnection)Field(checkpointer, "_connection")!).Dispose();
        for (int batch = 0; !checkpointer.Failed && batch < 100; batch++)
        {
            await store.InsertAsync([.. Enumerable.Range(1 + (batch * 100), 100).Select(i => Run(i, new string('x', 2000)))], default);
            if (batch >= 20)
            {
                await Task.Delay(10); // past a thousand pages: the checkpoint was asked for and runs on another thread
            }
        }

        checkpointer.Failed.Should().BeTrue();
        var after = Run(99_999);
        (await store.InsertAsync([after], default)).Should().ContainSingle(r => r.Created, "writes go on");
        ((bool)Field(queue, "_ownCheckpoints")!).Should().BeTrue();
        Scalar(writer, "PRAGMA wal_autocheckpoint").Should().Be(1000L, "SQLite checkpoints in the writer's commits again");
    }

    private static ScheduledRun Run(int i, string? input = null) => TestRuns.OneTime("w", s_now.AddSeconds(i), input is null ? null : $"\"{input}\"", s_now);

    private static async Task WaitUntil(Func<bool> done, string what)
    {
        for (int i = 0; i < 3000 && !done(); i++)
        {
            await Task.Delay(10);
        }

        done().Should().BeTrue(what);
    }

    private static object? Field(object owner, string name) =>
        owner.GetType().GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(owner);

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
