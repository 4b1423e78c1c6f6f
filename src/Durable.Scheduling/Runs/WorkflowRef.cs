using System.Linq.Expressions;
using System.Reflection;

namespace Durable.Scheduling;

/// <summary>
/// A workflow whose handler takes a <typeparamref name="TInput"/>: scheduling through it
/// (<see cref="SchedulerExtensions.ScheduleAsync{TInput}(IScheduler, WorkflowRef{TInput}, DateTimeOffset, TInput, IReadOnlyDictionary{string, string}?, string?, CancellationToken)"/>)
/// lets the compiler check the input. Create one with <see cref="WorkflowRef.Of{TWorkflows, TInput}"/>, once (a static
/// field). Immutable and thread-safe.
/// </summary>
/// <typeparam name="TInput">The handler's input type.</typeparam>
public sealed class WorkflowRef<TInput>
{
    internal WorkflowRef(string name)
    {
        Name = name;
    }

    /// <summary>The workflow name.</summary>
    public string Name { get; }

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>Creates typed workflow references.</summary>
public static class WorkflowRef
{
    /// <summary>
    /// A typed reference to the workflow method picked by <paramref name="workflow"/>, checked now: the method must be
    /// marked <see cref="WorkflowAttribute"/> or <see cref="ScheduledAttribute"/> and have a parameter that takes a
    /// <typeparamref name="TInput"/>.
    /// </summary>
    /// <typeparam name="TWorkflows">The class that declares the workflow method.</typeparam>
    /// <typeparam name="TInput">The handler's input type.</typeparam>
    /// <param name="workflow">A method group of <typeparamref name="TWorkflows"/>, as <c>x =&gt; x.Method</c>.</param>
    /// <returns>The reference.</returns>
    /// <exception cref="ArgumentException">The expression is not a method group, the method is not a workflow, or it
    /// has no parameter of (or assignable from) <typeparamref name="TInput"/>.</exception>
    public static WorkflowRef<TInput> Of<TWorkflows, TInput>(Expression<Func<TWorkflows, Delegate>> workflow)
    {
        ArgumentNullException.ThrowIfNull(workflow);
        var method = SchedulerExtensions.MethodOf(workflow);
        string name = WorkflowNames.Of(method);
        var parameters = method.GetParameters();
        if (!parameters.Any(p => p.ParameterType != typeof(ScheduledRunContext) && p.ParameterType != typeof(CancellationToken) && p.ParameterType.IsAssignableFrom(typeof(TInput))))
        {
            throw new ArgumentException(
                $"{method.DeclaringType?.FullName}.{method.Name} ('{name}') takes no input of type {typeof(TInput).FullName}; its parameters are {string.Join(", ", parameters.Select(p => p.ParameterType.Name + " " + p.Name))}.",
                nameof(workflow));
        }

        return new WorkflowRef<TInput>(name);
    }
}
