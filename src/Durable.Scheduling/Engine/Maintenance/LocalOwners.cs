using System.Globalization;

namespace Durable.Scheduling.Engine.Maintenance;

/// <summary>
/// The instance id of a scheduler started without <see cref="SchedulingOptions.InstanceId"/>, and how a later one on the
/// same machine tells that the process behind such an id is gone. The id names the machine, its boot, the process-id
/// namespace, the user, the process id and the process's start time (and a random part, so that two schedulers in one
/// process differ). A process is gone when the machine has booted since, or when its process id no longer runs, or runs
/// a process started at another time (the id was reused). Only ids of this machine, this process-id namespace and this
/// user are judged (containers sharing a host name see other namespaces, and a system may hide other users' processes),
/// so a live process is never taken for a gone one. Linux only (it reads <c>/proc</c>); elsewhere the id is random and
/// nothing is judged.
/// </summary>
/// <remarks>
/// Why: a process that crashes while holding leases and restarts at once would otherwise wait for those leases to
/// expire before its interrupted runs run again. A stable <see cref="SchedulingOptions.InstanceId"/> frees them too,
/// but needs configuring; this works with none.
/// </remarks>
internal static class LocalOwners
{
    private const string Prefix = "ds1";
    private const char Separator = '|';
    private const int MaxLength = SchedulingLimits.MaxNameLength;

    private static readonly Lazy<Here?> s_here = new(ReadHere);

    /// <summary>A new id for a scheduler of this process (<paramref name="unique"/> tells two apart); random where this process cannot be named.</summary>
    public static string NewId(Guid unique)
    {
        string random = unique.ToString("N");
        if (s_here.Value is not { } here || StartTicks(Environment.ProcessId) is not { } started)
        {
            return random;
        }

        string id = string.Join(Separator, Prefix, here.Machine, here.Boot, here.PidNamespace, here.User, Environment.ProcessId.ToString(CultureInfo.InvariantCulture), started.ToString(CultureInfo.InvariantCulture), random);
        return id.Length <= MaxLength ? id : random;
    }

    /// <summary>
    /// True when <paramref name="owner"/> names a process of this machine, process-id namespace and user that no longer
    /// runs; false for any other id (another machine, namespace or user, a configured instance id, or one that still runs).
    /// </summary>
    public static bool IsGone(string owner)
    {
        if (s_here.Value is not { } here)
        {
            return false;
        }

        var parts = owner.Split(Separator);
        if (parts.Length != 8 || parts[0] != Prefix || parts[1] != here.Machine || parts[3] != here.PidNamespace || parts[4] != here.User ||
            !int.TryParse(parts[5], NumberStyles.None, CultureInfo.InvariantCulture, out int pid) ||
            !long.TryParse(parts[6], NumberStyles.None, CultureInfo.InvariantCulture, out long started))
        {
            return false;
        }

        if (parts[2] != here.Boot)
        {
            return true; // the machine booted since: every process of the earlier boot is gone
        }

        return StartTicks(pid) is not { } now || now != started;
    }

    /// <summary>A process's start time (clock ticks since boot, field 22 of <c>/proc/[pid]/stat</c>), or null when it does not run.</summary>
    private static long? StartTicks(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        // "pid (comm) state ppid ...": the command may hold spaces and parentheses, so the fields are counted from the last ')'.
        int end = stat.LastIndexOf(')');
        var fields = stat[(end + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) ? ticks : null;
    }

    private static Here? ReadHere()
    {
        try
        {
            if (!OperatingSystem.IsLinux())
            {
                return null;
            }

            string boot = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim();
            string? pidNamespace = new FileInfo("/proc/self/ns/pid").LinkTarget;
            string machine = Environment.MachineName;
            string? user = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("Uid:", StringComparison.Ordinal))?
                .Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1); // the real user id
            if (boot.Length == 0 || string.IsNullOrEmpty(pidNamespace) || string.IsNullOrEmpty(user) ||
                machine.Contains(Separator, StringComparison.Ordinal) || pidNamespace.Contains(Separator, StringComparison.Ordinal))
            {
                return null;
            }

            return new Here(machine, boot, pidNamespace, user);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return null;
        }
    }

    private sealed record Here(string Machine, string Boot, string PidNamespace, string User);
}
