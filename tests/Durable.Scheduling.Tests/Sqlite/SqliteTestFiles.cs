using System.Globalization;
using Microsoft.Data.Sqlite;

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
        foreach (var path in new[] { file, file + "-wal", file + "-shm", file + "-planning" })
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

    /// <summary>Reads a PRAGMA of the file from a connection of the test's own (for settings stored in the file).</summary>
    public static string Pragma(string file, string pragma)
    {
        using var connection = new SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA " + pragma;
        return Convert.ToString(command.ExecuteScalar(), CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary><c>PRAGMA integrity_check</c> from a connection of the test's own: "ok" when the file is sound.</summary>
    public static string IntegrityCheck(string file) => Pragma(file, "integrity_check");
}
