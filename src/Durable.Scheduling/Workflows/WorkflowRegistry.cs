using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Durable.Scheduling;

/// <summary>
/// The workflows discovered by reflection in the configured assemblies. Built once, on first use (host start-up);
/// every misconfigured method is collected into one <see cref="SchedulingConfigurationException"/>.
/// </summary>
internal sealed class WorkflowRegistry
{
    private const BindingFlags AllMethods = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
    private readonly Lazy<Dictionary<string, WorkflowDescriptor>> _byName;
    private readonly Dictionary<MethodInfo, WorkflowDescriptor> _byMethod = [];
    private readonly Dictionary<MethodInfo, WorkflowInvoker> _invokers = [];

    public WorkflowRegistry(IOptions<SchedulingOptions> options, IServiceProviderIsService isService)
    {
        _byName = new(() => Discover(options.Value, isService));
    }

    public IReadOnlyCollection<WorkflowDescriptor> All => _byName.Value.Values;

    /// <summary>What discovery looked at (assemblies and types), for the warning when nothing was found.</summary>
    public string Scanned { get; private set; } = "nothing";

    /// <summary>Discovers the workflows now, throwing when any is misconfigured.</summary>
    public void EnsureDiscovered() => _ = _byName.Value;

    public WorkflowDescriptor? Find(string name) => _byName.Value.GetValueOrDefault(name);

    public WorkflowDescriptor? Find(MethodInfo method)
    {
        EnsureDiscovered();
        return _byMethod.GetValueOrDefault(method);
    }

    private Dictionary<string, WorkflowDescriptor> Discover(SchedulingOptions options, IServiceProviderIsService isService)
    {
        List<Assembly> assemblies = options.Assemblies.Count > 0 || options.WorkflowTypes.Count > 0
            ? [.. options.Assemblies.Distinct()]
            : Assembly.GetEntryAssembly() is { } entry ? [entry] : [];
        Scanned = string.Join(", ", assemblies.Select(a => "assembly " + a.GetName().Name).Concat(options.WorkflowTypes.Select(t => "type " + t.FullName)).DefaultIfEmpty("nothing (no entry assembly)"));
        var problems = new List<string>();
        var found = new Dictionary<string, WorkflowDescriptor>(StringComparer.Ordinal);
        foreach (var assembly in assemblies)
        {
            foreach (var type in LoadableTypes(assembly))
            {
                AddMarked(type, options, isService, found, problems);
            }
        }

        foreach (var type in options.WorkflowTypes.Distinct().Where(t => !assemblies.Contains(t.Assembly)))
        {
            AddMarked(type, options, isService, found, problems);
        }

        foreach (var (method, attribute) in options.CodeWorkflows)
        {
            Add(method, attribute, options, isService, found, problems);
        }

        if (problems.Count > 0)
        {
            throw new SchedulingConfigurationException(problems);
        }

        return found;
    }

    private void AddMarked(Type type, SchedulingOptions options, IServiceProviderIsService isService, Dictionary<string, WorkflowDescriptor> found, List<string> problems)
    {
        foreach (var method in type.GetMethods(AllMethods))
        {
            if (method.GetCustomAttribute<WorkflowAttribute>() is { } attribute)
            {
                Add(method, attribute, options, isService, found, problems);
            }
        }
    }

    private void Add(MethodInfo method, WorkflowAttribute attribute, SchedulingOptions options, IServiceProviderIsService isService, Dictionary<string, WorkflowDescriptor> found, List<string> problems)
    {
        string where = $"{method.DeclaringType?.FullName}.{method.Name}";
        string name = WorkflowNames.Of(method, attribute);
        int before = problems.Count;
        if (name.Length is 0 or > SchedulingLimits.MaxNameLength || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or '/' or ':'))
        {
            problems.Add($"{where}: workflow name '{name}' is invalid; use 1 to {SchedulingLimits.MaxNameLength} letters, digits or . - _ / :");
        }
        else if (found.TryGetValue(name, out var other))
        {
            problems.Add($"{where}: workflow name '{name}' is already used by {other.Method.DeclaringType?.FullName}.{other.Method.Name}");
        }

        string? problem = null;
        if (!_invokers.TryGetValue(method, out var invoker))
        {
            invoker = WorkflowInvoker.TryCreate(method, isService, out problem);
            if (invoker is not null)
            {
                _invokers[method] = invoker; // one compiled delegate per method, however many names it is registered under
            }
        }

        if (invoker is null)
        {
            problems.Add($"{where}: {problem}");
        }

        RecurringSchedule? schedule = null;
        if (attribute is ScheduledAttribute scheduled)
        {
            schedule = ReadSchedule(scheduled, where, problems);
        }

        if (attribute.MaxAttempts < 0 || attribute.MaxAttempts > SchedulingLimits.MaxAttempts)
        {
            problems.Add($"{where}: MaxAttempts must be between 0 and {SchedulingLimits.MaxAttempts}; got {attribute.MaxAttempts}");
        }

        if (!(attribute.TimeoutSeconds >= 0 && attribute.TimeoutSeconds <= SchedulingLimits.MaxTimeout.TotalSeconds))
        {
            problems.Add($"{where}: TimeoutSeconds must be between 0 (none) and {SchedulingLimits.MaxTimeout.TotalSeconds:0} (30 days); got {attribute.TimeoutSeconds}");
        }

        if (!(attribute.RetryDelaySeconds >= 0 && attribute.RetryDelaySeconds <= SchedulingLimits.MaxRetryDelay.TotalSeconds))
        {
            problems.Add($"{where}: RetryDelaySeconds must be between 0 and {SchedulingLimits.MaxRetryDelay.TotalSeconds:0} (a day); got {attribute.RetryDelaySeconds}");
        }

        if (problems.Count != before || invoker is null)
        {
            return;
        }

        var descriptor = new WorkflowDescriptor
        {
            Name = name,
            Method = method,
            Invoker = invoker,
            Timeout = attribute.TimeoutSeconds > 0 ? TimeSpan.FromSeconds(attribute.TimeoutSeconds) : options.DefaultTimeout,
            MaxAttempts = attribute.MaxAttempts > 0 ? attribute.MaxAttempts : options.DefaultMaxAttempts,
            RetryDelay = attribute.RetryDelaySeconds > 0 ? TimeSpan.FromSeconds(attribute.RetryDelaySeconds) : options.DefaultRetryDelay,
            Schedule = schedule,
        };
        found.Add(name, descriptor);
        _byMethod[method] = descriptor;
    }

    private static RecurringSchedule? ReadSchedule(ScheduledAttribute scheduled, string where, List<string> problems)
    {
        if ((scheduled.Cron is null) == (scheduled.Interval is null))
        {
            problems.Add($"{where}: give either a cron expression or an Interval, not {(scheduled.Cron is null ? "neither" : "both")}");
            return null;
        }

        if (!Enum.IsDefined(scheduled.CatchUp) || !Enum.IsDefined(scheduled.Overlap))
        {
            problems.Add($"{where}: CatchUp {scheduled.CatchUp} or Overlap {scheduled.Overlap} is not a defined policy");
            return null;
        }

        try
        {
            var spec = scheduled.Cron is { } cron
                ? new ScheduleSpec { Cron = [cron], TimeZone = scheduled.TimeZone }
                : new ScheduleSpec { Intervals = [ScheduleInterval.Parse(scheduled.Interval!)], TimeZone = scheduled.TimeZone };
            Schedules.CompiledSpec.Compile(spec, refuseNeverFiring: true);
            return new RecurringSchedule(spec, scheduled.CatchUp, scheduled.Overlap, scheduled.Interval is not null);
        }
        catch (ScheduleSpecException e)
        {
            string what = e.Field switch
            {
                "Spec.TimeZone" => $"time zone '{scheduled.TimeZone}' is not known on this machine",
                _ when scheduled.Cron is not null && e.InnerException is null => $"cron '{scheduled.Cron}' matches no date (such as 30 February): it would never fire",
                _ when scheduled.Cron is not null => $"cron '{scheduled.Cron}' is invalid: {e.InnerException!.Message}",
                _ => $"interval '{scheduled.Interval}' is invalid: {e.Message}",
            };
            problems.Add($"{where}: {what}");
            return null;
        }
    }

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.OfType<Type>();
        }
    }
}
