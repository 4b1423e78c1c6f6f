using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>
/// A real PostgreSQL server for the tests. With <c>DURABLE_SCHEDULING_POSTGRES</c> set to a connection string (a role
/// that may create schemas and databases), that server is used. Otherwise one is started once per test run: PostgreSQL's
/// own <c>initdb</c> and <c>pg_ctl</c> (found on PATH or under <c>/usr/lib/postgresql/*/bin</c>), a temporary data
/// folder, loopback only, a free port; as root (PostgreSQL refuses to run as root) under the <c>postgres</c> user.
/// Without a server a test is ignored, except under <c>CI=true</c>, where it fails: CI must not skip these.
/// </summary>
internal static class PostgreSqlServer
{
    public const string EnvironmentVariable = "DURABLE_SCHEDULING_POSTGRES";
    private static readonly SemaphoreSlim s_gate = new(1, 1);
    private static Instance? s_instance;
    private static string? s_failure;

    /// <summary>The server's connection string (database <c>postgres</c>), starting the server if needed; ignores or fails the test without one.</summary>
    public static async Task<string> ConnectionStringAsync()
    {
        var instance = await GetAsync();
        return instance.ConnectionString;
    }

    /// <summary>The started server (null when an outside server is used: it cannot be stopped or restarted here).</summary>
    public static async Task<Instance> GetAsync()
    {
        await s_gate.WaitAsync();
        try
        {
            if (s_instance is null && s_failure is null)
            {
                try
                {
                    s_instance = await StartAsync();
                }
                catch (Exception e)
                {
                    s_failure = e.Message;
                }
            }
        }
        finally
        {
            s_gate.Release();
        }

        if (s_instance is null)
        {
            string message = $"PostgreSQL is not available: {s_failure}. Install it (Debian: apt-get install postgresql) or set {EnvironmentVariable}.";
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                Assert.Fail(message + " Under CI=true a PostgreSQL test may not be skipped.");
            }

            Assert.Ignore(message);
        }

        return s_instance!;
    }

    /// <summary>Ignores the test (fails it under CI=true) when the server is an outside one, which tests may not restart.</summary>
    public static void RequireOwned(Instance server)
    {
        if (!server.Owned)
        {
            string message = $"The server comes from {EnvironmentVariable}: this test restarts a server it started itself.";
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                Assert.Fail(message + " Under CI=true a PostgreSQL test may not be skipped.");
            }

            Assert.Ignore(message);
        }
    }

    /// <summary>Stops the server this run started (at the end of the test run).</summary>
    public static void StopAll() => s_instance?.Dispose();

    private static async Task<Instance> StartAsync()
    {
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } outside)
        {
            return new Instance(outside, null, null, null);
        }

        string bin = FindBin() ?? throw new InvalidOperationException("initdb and pg_ctl were not found (PATH, /usr/lib/postgresql/*/bin)");
        bool root = Environment.UserName == "root";
        string data = Path.Combine(Path.GetTempPath(), "ds-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(data);
        if (root)
        {
            await RunAsync("chown", ["postgres:postgres", data], false);
        }

        int port = FreePort();
        await RunAsync(Path.Combine(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"], root);

        // fsync off: a crashed server process (the tests kill it) loses nothing the kernel has, and tests run faster;
        // synchronous_commit stays on, so an acknowledged commit survives an immediate stop.
        var instance = new Instance(
            $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true;Timeout=5;Command Timeout=30",
            bin, data, root)
        {
            Port = port,
        };
        await instance.StartServerAsync();
        return instance;
    }

    private static string? FindBin()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(Directory.Exists("/usr/lib/postgresql")
                ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => d, StringComparer.Ordinal).Select(d => Path.Combine(d, "bin"))
                : []);
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static async Task<string> RunAsync(string program, string[] args, bool asPostgres)
    {
        var info = new ProcessStartInfo(asPostgres ? "runuser" : program) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", program })
            {
                info.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(program)} {string.Join(' ', args)} failed ({process.ExitCode}): {await error} {await output}");
        }

        return await output;
    }

    /// <summary>A server: the connection string, and (when started here) how to stop, restart and kill it.</summary>
    internal sealed class Instance(string connectionString, string? bin, string? data, bool? root) : IDisposable
    {
        public string ConnectionString { get; } = connectionString;

        public int Port { get; init; }

        /// <summary>True when this run started the server (so tests may stop and restart it).</summary>
        public bool Owned => data is not null;

        public async Task StartServerAsync()
        {
            string options = $"-c listen_addresses=127.0.0.1 -p {Port} -k {data} -c fsync=off -c max_connections=400 -c shared_buffers=128MB";
            await RunAsync(Path.Combine(bin!, "pg_ctl"), ["-D", data!, "-l", Path.Combine(data!, "server.log"), "-o", options, "-w", "-t", "60", "start"], root!.Value);
        }

        /// <summary>Stops the server at once (like a crash: no checkpoint), then starts it again.</summary>
        public async Task RestartImmediateAsync()
        {
            await RunAsync(Path.Combine(bin!, "pg_ctl"), ["-D", data!, "-m", "immediate", "-w", "stop"], root!.Value);
            await StartServerAsync();
        }

        /// <summary>Closes every connection of a role's sessions except the caller's (a network cut, as the server sees it).</summary>
        public async Task TerminateConnectionsAsync(string? applicationName = null)
        {
            await using var connection = new NpgsqlConnection(ConnectionString + ";Pooling=false");
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND (@app::text IS NULL OR application_name = @app)",
                connection);
            command.Parameters.AddWithValue("app", (object?)applicationName ?? DBNull.Value);
            await command.ExecuteScalarAsync();
        }

        public void Dispose()
        {
            if (data is null)
            {
                return;
            }

            try
            {
                RunAsync(Path.Combine(bin!, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], root!.Value).GetAwaiter().GetResult();
            }
            catch (InvalidOperationException)
            {
                // already stopped
            }

            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>Stops the test run's PostgreSQL server when the run ends.</summary>
[SetUpFixture]
public sealed class PostgreSqlServerShutdown
{
    [OneTimeTearDown]
    public void StopServer() => PostgreSqlServer.StopAll();
}
