using System.Reflection;
using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Data.Sqlite;
using Microsoft.Win32.SafeHandles;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>
/// SqliteSynchronous.Full with the flush taken off the writer: when it is taken off, that every write handed over is
/// answered (after a flush, and at disposal), and what a failed flush does to the writes it covered and to the writer.
/// </summary>
[TestFixture]
public sealed class SqliteWalFlusherTests
{
    private static readonly DateTimeOffset s_now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private string _file = null!;

    [SetUp]
    public void NewFile() => _file = SqliteTestFiles.NewFile("flush");

    [TearDown]
    public void DeleteFile() => SqliteTestFiles.Delete(_file);

    [Test]
    public async Task TryStart_OnAWalDatabase_TurnsTheWritersOwnFlushOff()
    {
        await using var writer = Open("WAL");
        var flusher = SqliteWalFlusher.TryStart(writer, _file);
        flusher.Should().NotBeNull();
        Scalar(writer, "PRAGMA synchronous").Should().Be(1L, "NORMAL: the flusher flushes the WAL instead");
        await flusher!.DisposeAsync();
    }

    [Test]
    public async Task TryStart_OnARollbackJournal_LeavesTheFlushToSqlite()
    {
        await using var writer = Open("DELETE");
        SqliteWalFlusher.TryStart(writer, _file).Should().BeNull("a rollback journal is SQLite's to flush");
        Scalar(writer, "PRAGMA synchronous").Should().Be(2L, "FULL, untouched");
    }

    [Test]
    public async Task ThroughASymbolicLink_TheWalFileSqliteWrites_IsTheOneFlushed_NotAFileOfTheLinksName()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Ignore("Symbolic links need a privilege on Windows.");
        }

        Open("WAL").Dispose(); // the database, in WAL mode, with table t
        string link = SqliteTestFiles.NewFile("flush-link");
        File.CreateSymbolicLink(link, _file);
        File.WriteAllText(link + "-wal", "a stale file of the link's name: flushing it would leave the real WAL unflushed");
        try
        {
            await using var writer = new SqliteConnection($"Data Source={link};Pooling=False");
            writer.Open();
            Scalar(writer, "INSERT INTO t VALUES (2)");
            SqliteWalFlusher.WalFileOf(writer).Should().Be(Path.GetFullPath(_file) + "-wal", "SQLite follows the link and writes the WAL beside the file it opened");
            var flusher = SqliteWalFlusher.TryStart(writer, link)!;
            if (OperatingSystem.IsLinux())
            {
                // The handle the flusher flushes, as the kernel names it.
                var handle = (SafeFileHandle)Field(flusher, "_wal")!;
                new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle()}").LinkTarget.Should().Be(Path.GetFullPath(_file) + "-wal");
            }

            await flusher.DisposeAsync();
        }
        finally
        {
            File.Delete(link);
            File.Delete(link + "-wal");
        }
    }

    [Test]
    public async Task EveryWriteHandedOver_IsAnswered_InOrder_AndDisposalAnswersTheLast()
    {
        await using var writer = Open("WAL");
        var flusher = SqliteWalFlusher.TryStart(writer, _file)!;
        var answered = new List<(int Write, Exception? Error)>();
        var groups = Enumerable.Range(0, 50).Select(g => Enumerable.Range(0, 3).Select(i => new Recorded(answered, (g * 3) + i)).ToArray<IAwaitingFlush>()).ToList();
        foreach (var group in groups)
        {
            flusher.Add(group);
        }

        await flusher.DisposeAsync(); // the writes handed over last are answered before it returns
        lock (answered)
        {
            answered.Select(a => a.Write).Should().Equal(Enumerable.Range(0, 150), "each once, in the order committed");
            answered.Should().OnlyContain(a => a.Error == null);
        }

        var late = () => flusher.Add([new Recorded(answered, -1)]);
        late.Should().Throw<ObjectDisposedException>("nothing handed over after disposal could be answered");
    }

    [Test]
    public async Task WaitForEarlierFlushes_ReturnsOnlyOnceEveryTransactionHandedOverIsAnswered()
    {
        await using var writer = Open("WAL");
        var flusher = SqliteWalFlusher.TryStart(writer, _file)!;
        var answered = new List<(int Write, Exception? Error)>();
        for (int round = 0; round < 20; round++)
        {
            flusher.Add([new Recorded(answered, 2 * round), new Recorded(answered, (2 * round) + 1)]);
            flusher.WaitForEarlierFlushes(); // what the writer does before its next commit
            lock (answered)
            {
                answered.Should().HaveCount(2 * (round + 1), "both writes of every transaction handed over are answered before the wait ends");
            }
        }

        flusher.WaitForEarlierFlushes(); // nothing handed over since: returns at once
        await flusher.DisposeAsync();
        answered.Should().OnlyContain(a => a.Error == null);
    }

    [Test]
    public async Task AFailedFlush_FailsTheWritesItCovered_WithAnIOExceptionNamingTheFile()
    {
        var handle = File.OpenHandle(_file + "-wal", FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        var flusher = new SqliteWalFlusher(handle, _file);
        handle.Dispose(); // the flush can no longer reach the file
        var answered = new List<(int Write, Exception? Error)>();
        flusher.Add([new Recorded(answered, 0), new Recorded(answered, 1)]);
        await flusher.DisposeAsync();

        flusher.Failed.Should().BeTrue();
        answered.Should().HaveCount(2);
        answered.Should().OnlyContain(a => a.Error is IOException && a.Error.Message.Contains(_file) && a.Error.Message.Contains("could not be flushed"));
    }

    [Test]
    public async Task Store_WithTheDefaultFull_FlushesOffItsWriter_AndAfterAFailedFlush_FailsThoseWrites_ThenLetsSqliteFlushAgain()
    {
        await using var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={_file}" });
        var first = TestRuns.OneTime("w", s_now, null, s_now);
        (await store.InsertAsync([first], default)).Should().ContainSingle(r => r.Created);

        var queue = Field(store, "_writes")!;
        var flusher = (SqliteWalFlusher?)Field(queue, "_flusher");
        flusher.Should().NotBeNull("FULL is the default, and the file is in WAL mode");
        var writer = (SqliteConnection)Field(queue, "_writer")!;

        // The flush fails (the handle it flushes through is gone): the write it covered is committed but reported as
        // not known to be on disk, and SQLite flushes each commit itself from then on.
        ((SafeFileHandle)Field(flusher!, "_wal")!).Dispose();
        var unflushed = TestRuns.OneTime("w", s_now.AddMinutes(1), null, s_now);
        var failed = async () => await store.InsertAsync([unflushed], default);
        (await failed.Should().ThrowAsync<IOException>()).Which.Message.Should().Contain(_file);

        var after = TestRuns.OneTime("w", s_now.AddMinutes(2), null, s_now);
        (await store.InsertAsync([after], default)).Should().ContainSingle(r => r.Created, "later writes are answered once SQLite has flushed them");
        (await store.GetAsync(unflushed.Id, default)).Should().NotBeNull("the failed flush's write was committed: it is reported, not undone");
        ((bool)Field(queue, "_ownFlush")!).Should().BeTrue();
        Scalar(writer, "PRAGMA synchronous").Should().Be(2L, "FULL again (read while the writer waits for work)");
    }

    private static object? Field(object owner, string name) =>
        owner.GetType().GetField(name, BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(owner);

    private SqliteConnection Open(string journalMode)
    {
        var connection = new SqliteConnection($"Data Source={_file};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA journal_mode = {journalMode}; PRAGMA synchronous = FULL; CREATE TABLE t (x); INSERT INTO t VALUES (1);";
        command.ExecuteNonQuery();
        return connection;
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private sealed class Recorded(List<(int Write, Exception? Error)> answered, int write) : IAwaitingFlush
    {
        public void Flushed(Exception? error)
        {
            lock (answered)
            {
                answered.Add((write, error));
            }
        }
    }
}
