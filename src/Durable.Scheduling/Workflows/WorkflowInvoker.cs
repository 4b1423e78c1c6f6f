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

    private WorkflowInvoker(Func<object?, ScheduledRunContext, CancellationToken, IServiceProvider, object?, ValueTask> call, Type? declaringType, Type? inputType, bool takesServices, bool takesContext)
    {
        _call = call;
        _declaringType = declaringType;
        InputType = inputType;
        NeedsScope = declaringType is not null || takesServices;
        TakesContext = takesContext;
    }

    /// <summary>The typed input parameter's type, or null when the method takes none.</summary>
    public Type? InputType { get; }

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
            else if (inputType is null)
            {
                inputType = type;
                arguments.Add(Expression.Convert(input, type));
            }
            else
            {
                problem = $"parameters '{parameter.Name}' ({type.Name}) and another ({inputType.Name}) are neither services nor the run context; a workflow takes at most one input";
                return null;
            }
        }

        Expression call = Expression.Call(method.IsStatic ? null : Expression.Convert(target, method.DeclaringType), method, arguments);
        call = returnType == typeof(Task)
            ? Expression.New(typeof(ValueTask).GetConstructor([typeof(Task)])!, call)
            : returnType == typeof(void)
                ? Expression.Block(call, Expression.Default(typeof(ValueTask)))
                : call;
        var lambda = Expression.Lambda<Func<object?, ScheduledRunContext, CancellationToken, IServiceProvider, object?, ValueTask>>(call, target, context, token, services, input);
        return new WorkflowInvoker(lambda.Compile(), method.IsStatic ? null : method.DeclaringType, inputType, takesServices, takesContext);
    }

    /// <summary>Deserializes the input (null when absent) for the typed input parameter.</summary>
    /// <exception cref="JsonException">The stored input cannot be read as the parameter's type.</exception>
    public object? ReadInput(string? json, JsonSerializerOptions options)
    {
        if (InputType is null)
        {
            return null;
        }

        if (json is null)
        {
            return InputType.IsValueType ? Activator.CreateInstance(InputType) : null;
        }

        return JsonSerializer.Deserialize(json, InputType, options);
    }

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
