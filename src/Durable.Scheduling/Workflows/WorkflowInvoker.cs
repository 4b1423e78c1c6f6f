using System.Linq.Expressions;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;

namespace Durable.Scheduling;

/// <summary>
/// Calls a workflow method through a compiled delegate, binding parameters by type: the run context, the cancellation
/// token, services, and one typed input deserialized from JSON.
/// </summary>
internal sealed class WorkflowInvoker
{
    private readonly Func<object?, ScheduledRunContext, CancellationToken, IServiceProvider, object?, ValueTask> _call;
    private readonly Type? _declaringType;

    private WorkflowInvoker(Func<object?, ScheduledRunContext, CancellationToken, IServiceProvider, object?, ValueTask> call, Type? declaringType, Type? inputType, bool inputRequired, bool takesServices, bool takesContext)
    {
        _call = call;
        _declaringType = declaringType;
        InputType = inputType;
        InputRequired = inputRequired;
        NeedsScope = declaringType is not null || takesServices;
        TakesContext = takesContext;
    }

    /// <summary>The typed input parameter's type, or null when the method takes none.</summary>
    public Type? InputType { get; }

    /// <summary>True when the input parameter cannot be null (a non-nullable reference or value type): a run needs an input.</summary>
    public bool InputRequired { get; }

    /// <summary>Builds the invoker, or returns why the method cannot be a workflow.</summary>
    public static WorkflowInvoker? TryCreate(MethodInfo method, IServiceProviderIsService isService, out string? problem)
    {
        problem = null;
        if (method.IsGenericMethodDefinition || method.DeclaringType is null || method.DeclaringType.ContainsGenericParameters)
        {
            problem = "generic methods and methods of open generic types cannot be workflows";
            return null;
        }

        if (!method.IsStatic && method.DeclaringType.IsAbstract)
        {
            problem = "an instance workflow must be declared on a concrete class";
            return null;
        }

        var returnType = method.ReturnType;
        if (returnType == typeof(void) && method.GetCustomAttribute<System.Runtime.CompilerServices.AsyncStateMachineAttribute>() is not null)
        {
            problem = "is async void: an exception after its first await would crash the process, and its end cannot be awaited; return Task";
            return null;
        }

        if (returnType != typeof(void) && returnType != typeof(Task) && returnType != typeof(ValueTask))
        {
            problem = $"returns {returnType.Name}; a workflow returns Task, ValueTask or void";
            return null;
        }

        var target = Expression.Parameter(typeof(object), "target");
        var context = Expression.Parameter(typeof(ScheduledRunContext), "context");
        var token = Expression.Parameter(typeof(CancellationToken), "token");
        var services = Expression.Parameter(typeof(IServiceProvider), "services");
        var input = Expression.Parameter(typeof(object), "input");
        Type? inputType = null;
        bool inputRequired = false;
        bool takesServices = false;
        bool takesContext = false;
        var arguments = new List<Expression>();
        var getService = typeof(ServiceProviderServiceExtensions).GetMethod(nameof(ServiceProviderServiceExtensions.GetRequiredService), [typeof(IServiceProvider), typeof(Type)])!;
        foreach (var parameter in method.GetParameters())
        {
            var type = parameter.ParameterType;
            if (type.IsByRef || parameter.IsOut)
            {
                problem = $"parameter '{parameter.Name}' is by reference";
                return null;
            }

            if (type == typeof(ScheduledRunContext))
            {
                takesContext = true;
                arguments.Add(context);
            }
            else if (type == typeof(CancellationToken))
            {
                arguments.Add(token);
            }
            else if (isService.IsService(type))
            {
                takesServices = true;
                arguments.Add(Expression.Convert(Expression.Call(getService, services, Expression.Constant(type)), type));
            }
            else if (!CanBeInput(type))
            {
                problem = $"parameter '{parameter.Name}' ({type.FullName}) is not a registered service, and it cannot be the run's input (an interface, abstract class, delegate or framework type is never read from JSON): register the service before the host starts";
                return null;
            }
            else if (inputType is null)
            {
                inputType = type;
                inputRequired = type.IsValueType
                    ? Nullable.GetUnderlyingType(type) is null
                    : new NullabilityInfoContext().Create(parameter).WriteState == NullabilityState.NotNull;
                arguments.Add(Expression.Convert(input, type));
            }
            else
            {
                problem = $"parameters '{parameter.Name}' ({type.Name}) and another ({inputType.Name}) are neither services nor the run context; a workflow takes at most one input";
                return null;
            }
        }

        if (!method.IsStatic && !isService.IsService(method.DeclaringType) && UnresolvableDependency(method.DeclaringType, isService) is { } missing)
        {
            problem = missing;
            return null;
        }

        Expression call = Expression.Call(method.IsStatic ? null : Expression.Convert(target, method.DeclaringType), method, arguments);
        call = returnType == typeof(Task)
            ? Expression.New(typeof(ValueTask).GetConstructor([typeof(Task)])!, call)
            : returnType == typeof(void)
                ? Expression.Block(call, Expression.Default(typeof(ValueTask)))
                : call;
        var lambda = Expression.Lambda<Func<object?, ScheduledRunContext, CancellationToken, IServiceProvider, object?, ValueTask>>(call, target, context, token, services, input);
        return new WorkflowInvoker(lambda.Compile(), method.IsStatic ? null : method.DeclaringType, inputType, inputRequired, takesServices, takesContext);
    }

    /// <summary>
    /// False for types that are never a run's JSON input, so that a service parameter the application forgot to register
    /// is refused at start-up instead of being taken for the input.
    /// </summary>
    private static bool CanBeInput(Type type) =>
        !type.IsInterface && !type.IsAbstract && !typeof(Delegate).IsAssignableFrom(type) && !type.IsPointer &&
        type != typeof(IServiceProvider) && type.Namespace?.StartsWith("Microsoft.Extensions", StringComparison.Ordinal) != true;

    /// <summary>
    /// Why the workflow class cannot be created per run from DI (a constructor parameter that is not a registered
    /// service and has no default value), or null when it can.
    /// </summary>
    private static string? UnresolvableDependency(Type type, IServiceProviderIsService isService)
    {
        var constructors = type.GetConstructors();
        if (constructors.Length == 0)
        {
            return $"{type.FullName} has no public constructor, so it cannot be created for a run: make one public or register the class";
        }

        string? firstProblem = null;
        foreach (var constructor in constructors.OrderByDescending(c => c.GetParameters().Length))
        {
            var missing = constructor.GetParameters().FirstOrDefault(p => !p.HasDefaultValue && !isService.IsService(p.ParameterType));
            if (missing is null)
            {
                return null; // this constructor can be satisfied
            }

            firstProblem ??= $"constructor parameter '{missing.Name}' ({missing.ParameterType.FullName}) of {type.FullName} is not a registered service: register it before the host starts";
        }

        return firstProblem;
    }

    /// <summary>
    /// Deserializes the input for the typed input parameter, strictly (<paramref name="strict"/>: unknown members,
    /// missing required members and nulls for non-nullable members are errors), or null when the method takes none.
    /// </summary>
    /// <exception cref="JsonException">The stored input does not match the parameter's type; the message names the
    /// workflow, the run and the member.</exception>
    public object? ReadInput(string? json, JsonSerializerOptions strict, string workflow, Guid runId)
    {
        if (InputType is null)
        {
            return null;
        }

        if (json is null || json == "null")
        {
            return InputRequired
                ? throw new JsonException($"Run {runId} of '{workflow}' has no input, but its handler requires a {InputType.FullName}.")
                : InputType.IsValueType ? Activator.CreateInstance(InputType) : null;
        }

        try
        {
            return JsonSerializer.Deserialize(json, InputType, strict);
        }
        catch (JsonException e)
        {
            throw new JsonException($"Run {runId} of '{workflow}': its input does not match {InputType.FullName} at '{e.Path ?? "$"}': {e.Message}", e.Path, e.LineNumber, e.BytePositionInLine, e);
        }
    }

    /// <summary>The options used to read inputs: the application's, made strict.</summary>
    public static JsonSerializerOptions Strict(JsonSerializerOptions options) => new(options)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>
    /// Invokes the method; instance methods get their object from <paramref name="services"/> (a per-run scope).
    /// <paramref name="context"/> may be null when <see cref="TakesContext"/> is false.
    /// </summary>
    public ValueTask InvokeAsync(IServiceProvider services, ScheduledRunContext? context, object? input, CancellationToken cancellationToken)
    {
        object? target = _declaringType is null ? null : ActivatorUtilities.GetServiceOrCreateInstance(services, _declaringType);
        return _call(target, context!, cancellationToken, services, input);
    }

    /// <summary>True when a run needs its own DI scope: an instance method, or a method taking services.</summary>
    public bool NeedsScope { get; }

    /// <summary>True when the method takes the run context (otherwise none is created per run).</summary>
    public bool TakesContext { get; }
}
