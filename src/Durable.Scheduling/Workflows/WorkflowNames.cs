using System.Reflection;

namespace Durable.Scheduling;

/// <summary>How a workflow is named: its attribute's <see cref="WorkflowAttribute.Name"/>, else <c>Type.Method</c>.</summary>
internal static class WorkflowNames
{
    public static string Of(MethodInfo method, WorkflowAttribute attribute) =>
        attribute.Name ?? $"{method.DeclaringType?.Name}.{method.Name}";

    /// <summary>The name a method marked <see cref="WorkflowAttribute"/> or <see cref="ScheduledAttribute"/> defines.</summary>
    /// <exception cref="ArgumentException">The method has neither attribute.</exception>
    public static string Of(MethodInfo method) =>
        Of(method, method.GetCustomAttribute<WorkflowAttribute>()
            ?? throw new ArgumentException($"{method.DeclaringType?.FullName}.{method.Name} is not a workflow: mark it [Workflow] or [Scheduled].", nameof(method)));
}
