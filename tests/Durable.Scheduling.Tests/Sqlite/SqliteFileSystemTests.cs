using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.Logging;
using NUnit.Framework;
using Mount = Durable.Scheduling.Sqlite.SqliteFileSystem.Mount;

namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>A database on a network file system is told apart (SQLite's WAL needs every process on one machine).</summary>
[TestFixture]
public sealed class SqliteFileSystemTests
{
    private static readonly Mount[] s_mounts =
    [
        new("/", "ext4", false),
        new("/mnt/share", "nfs4", true),
        new("/mnt/share/local", "ext4", false),
        new("/mnt/sharepoint", "ext4", false),
        new("/srv/cluster/", "fuse.sshfs", false),
        new("/data", "cifs", false),
    ];

    [TestCase("/var/lib/app/scheduling.db", null)]
    [TestCase("/mnt/share/app/scheduling.db", "/mnt/share")]
    [TestCase("/mnt/share", "/mnt/share")]
    [TestCase("/mnt/share/local/scheduling.db", null, TestName = "A local mount inside a network one is local")]
    [TestCase("/mnt/shared/scheduling.db", null, TestName = "A mount point's name is matched by whole segments")]
    [TestCase("/mnt/sharepoint/scheduling.db", null, TestName = "The longest mount point holding the path wins")]
    [TestCase("/srv/cluster/scheduling.db", "/srv/cluster/", TestName = "A FUSE mount of a remote file system is network")]
    [TestCase("/data/scheduling.db", "/data", TestName = "A CIFS mount is network even when not reported so")]
    public void NetworkMountOf_FindsTheMountHoldingThePath(string path, string? network) =>
        (SqliteFileSystem.NetworkMountOf(path, s_mounts)?.Root).Should().Be(network);

    [Test]
    public void NetworkMountOf_ALocalPath_IsNull()
    {
        SqliteFileSystem.NetworkMountOf("/var/lib/app/scheduling.db", s_mounts).Should().BeNull();
        SqliteFileSystem.NetworkMountOf("/anything", []).Should().BeNull("no mount table: nothing to say");
    }

    [Test]
    public async Task AStoreOnThisMachinesTempFolder_WarnsOfNothing()
    {
        // This machine's temporary folder is a local disk: opening a store there logs no network warning, and the
        // mount table is read without failing (the warning itself needs a network mount, which tests cannot make).
        SqliteFileSystem.NetworkMountOf(Path.GetFullPath(Path.GetTempPath())).Should().BeNull();
        var logs = new CapturedLogs();
        string file = SqliteTestFiles.NewFile("local");
        await using var store = new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={file}" }, logs.CreateLogger("test"));
        await store.GetWatermarkAsync("x", default);
        logs.Entries.Should().NotContain(e => e.Level >= LogLevel.Warning);
    }
}
