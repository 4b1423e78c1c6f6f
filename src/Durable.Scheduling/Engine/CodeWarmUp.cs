using System.Reflection;
using System.Runtime.CompilerServices;
using Durable.Scheduling.Diagnostics;
using Durable.Scheduling.Engine.Timing;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;

namespace Durable.Scheduling.Engine;

/// <summary>
/// Compiles ahead, on a background thread, when a scheduler starts to execute runs: this library's methods (once per
/// process) and the workflows' handler methods. Without it the first runs of a fresh process each wait for the JIT on
/// their path, which a user sees as lateness of the first occurrences after each deployment. Methods are compiled as a
/// first call would compile them, so the runtime still optimizes those that run often; generic code over other types,
/// and what a handler calls, are left to their first call.
/// </summary>
internal static class CodeWarmUp
{
    private const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic;
    private static int s_libraryStarted;

    /// <summary>Starts the warm-up (nothing when the runtime does not compile code, as under native AOT).</summary>
    /// <param name="handlers">The handler methods of the workflows this scheduler runs.</param>
    public static void Start(IEnumerable<MethodInfo> handlers)
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
        {
            return;
        }

        // The handlers are few: a pool thread prepares them. The library is a few hundred milliseconds of compiling,
        // once per process: a thread of its own, so no pool thread is held while the first runs want one.
        var methods = handlers.ToList();
        ThreadPool.UnsafeQueueUserWorkItem(static m => m.ForEach(TryPrepare), methods, preferLocal: false);
        if (Interlocked.Exchange(ref s_libraryStarted, 1) == 0)
        {
            new Thread(PrepareLibrary) { IsBackground = true, Name = "Durable.Scheduling warm-up" }.Start();
        }
    }

    private static void PrepareLibrary()
    {
        Type?[] types;
        try
        {
            types = typeof(CodeWarmUp).Assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            types = e.Types; // those that loaded
        }

        foreach (var type in types)
        {
            if (type is null || type.ContainsGenericParameters || type.IsInterface)
            {
                continue;
            }

            foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
            {
                TryPrepare(method);
            }
        }

        RunTheHotPaths();
    }

    /// <summary>
    /// Calls the methods compiled fully optimized at their first call (marked for aggressive optimization: the runtime
    /// does not compile those ahead when asked), each where a call does nothing outside this thread: a run's way through
    /// a throwaway in-memory store (which also compiles the store's tables for its own types), and the precise wait
    /// with an instant already past; and makes the telemetry instruments. Without it the first claim and the first
    /// completion of a process each wait for such a compilation.
    /// </summary>
    internal static void RunTheHotPaths()
    {
        try
        {
            RuntimeHelpers.RunClassConstructor(typeof(SchedulingTelemetry).TypeHandle); // the instruments, made at first use
            PreciseDelay.Until(0);
            PreciseDelay.Spin(0);
            var at = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);
            var store = new InMemorySchedulingStore();
            var run = new ScheduledRun
            {
                Id = RunIds.Next(at), // as the scheduler makes ids (that path warms too)
                WorkflowName = "warm-up",
                Kind = RunKind.OneTime,
                ScheduledTime = at,
                DueTime = at,
                Status = RunStatus.Pending,
                CreatedAt = at,
            };
            _ = store.InsertAsync([run], CancellationToken.None).AsTask().GetAwaiter().GetResult();
            _ = store.GetDueAsync(at, 10, null, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            var leases = store.ClaimAsync([run.Id], at, TimeSpan.FromMinutes(1), "warm-up", CancellationToken.None).AsTask().GetAwaiter().GetResult();
            _ = store.RenewAsync(run.Id, leases[0].Token, at.AddMinutes(2), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            _ = store.CompleteAsync([new RunCompletion(run.Id, leases[0].Token, RunStatus.Succeeded, at)], CancellationToken.None).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            // Best effort, as the rest of the warm-up: what was not compiled here is compiled at its first call.
        }
    }

    /// <summary>Compiles one method ahead if it can be; never throws.</summary>
    internal static void TryPrepare(MethodBase method)
    {
        if (method.IsAbstract || method.ContainsGenericParameters || method.DeclaringType is { ContainsGenericParameters: true })
        {
            return;
        }

        try
        {
            RuntimeHelpers.PrepareMethod(method.MethodHandle);
        }
        catch (Exception)
        {
            // Any failure (a method whose signature names an assembly not deployed, say) is ignored: this is only a
            // start-up speed-up, such a method is compiled at its first call as without it, and an exception escaping
            // a background thread would end the process.
        }
    }
}
