namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>Fresh database files under the test run's temporary folder.</summary>
internal static class SqliteTestFiles
{
    private static readonly string s_root = Path.Combine(Path.GetTempPath(), "durable-scheduling-tests", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static string NewFile(string name = "store")
    {
        Directory.CreateDirectory(s_root);
        return Path.Combine(s_root, $"{name}-{Guid.NewGuid():N}.db");
    }

    public static void Delete(string file)
    {
        foreach (var path in new[] { file, file + "-wal", file + "-shm" })
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // best effort
            }
        }
    }
}
