namespace Durable.Scheduling.Sqlite;

/// <summary>
/// Whether the database file lies on a network file system, where SQLite's WAL mode (which shares memory between the
/// processes using the file) does not work across machines and file locks are often unreliable. The mounts come from
/// <see cref="DriveInfo.GetDrives"/> (on Linux, the process's mount table), matched by the longest mount point that
/// holds the path.
/// </summary>
internal static class SqliteFileSystem
{
    // Types that .NET does not already report as DriveType.Network (FUSE mounts of remote stores, cluster file systems).
    private static readonly HashSet<string> s_networkTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "glusterfs", "lustre", "gpfs",
        "beegfs", "ocfs2", "gfs2", "davfs", "fuse.sshfs", "fuse.glusterfs", "fuse.davfs2", "fuse.s3fs", "fuse.rclone", "fuse.cephfs",
    };

    /// <summary>One mount: where it is, its file system type, and whether .NET reports it as a network drive.</summary>
    public readonly record struct Mount(string Root, string Type, bool Network);

    /// <summary>The network mount holding <paramref name="fullPath"/>, or null when it is local (or unknown).</summary>
    public static Mount? NetworkMountOf(string fullPath)
    {
        if (OperatingSystem.IsWindows() && fullPath.StartsWith(@"\\", StringComparison.Ordinal) && !fullPath.StartsWith(@"\\?\", StringComparison.Ordinal))
        {
            return new Mount(fullPath, "UNC share", true);
        }

        try
        {
            return NetworkMountOf(fullPath, DriveInfo.GetDrives().Select(Describe));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // the mount table cannot be read: nothing to say
        }
    }

    /// <summary>The network mount holding <paramref name="fullPath"/> among <paramref name="mounts"/>, or null.</summary>
    public static Mount? NetworkMountOf(string fullPath, IEnumerable<Mount> mounts)
    {
        Mount? holder = null;
        foreach (var mount in mounts)
        {
            if (Holds(mount.Root, fullPath) && (holder is null || mount.Root.Length > holder.Value.Root.Length))
            {
                holder = mount;
            }
        }

        return holder is { } found && (found.Network || s_networkTypes.Contains(found.Type)) ? found : null;
    }

    private static Mount Describe(DriveInfo drive)
    {
        string type;
        try
        {
            type = drive.DriveFormat;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            type = "";
        }

        return new Mount(drive.RootDirectory.FullName, type, drive.DriveType == DriveType.Network);
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="root"/> or below it (whole path segments).</summary>
    private static bool Holds(string root, string path)
    {
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        string trimmed = root.Length > 1 ? root.TrimEnd('/', '\\') : root;
        if (!path.StartsWith(trimmed, comparison))
        {
            return false;
        }

        return path.Length == trimmed.Length || trimmed.EndsWith('/') || trimmed.EndsWith('\\') || path[trimmed.Length] is '/' or '\\';
    }
}
