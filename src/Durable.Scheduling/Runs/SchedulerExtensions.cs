using System.Linq.Expressions;
using System.Reflection;

namespace Durable.Scheduling;

/// <summary>Typed scheduling: name the workflow by its method, checked by the compiler.</summary>
public static class SchedulerExtensions
{
    /// <summary>
    /// Schedules a one-time run of the workflow method picked by <paramref name="workflow"/>, for example
    /// <c>scheduler.ScheduleAsync&lt;Reports&gt;(r =&gt; r.Send, runAt, new Reminder(42))</c>.
    /// </summary>
    /// <typeparam name="TWorkflows">The class that declares the workflow method.</typeparam>
    /// <param name="scheduler">The scheduler.</param>
    /// <param name="workflow">A method group of <typeparamref name="TWorkflows"/>, as <c>x =&gt; x.Method</c>.</param>
    /// <param name="runAt">When to run it.</param>
    /// <param name="input">The input, or null.</param>
    /// <param name="metadata">Metadata, or null.</param>
    /// <param name="idempotencyKey">An idempotency key, or null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The stored run (a value task: see <see cref="IScheduler.ScheduleAsync"/>).</returns>
    /// <exception cref="ArgumentException">The expression is not a method group, or the method is not a workflow.</exception>
    public static ValueTask<ScheduledRun> ScheduleAsync<TWorkflows>(this IScheduler scheduler, Expression<Func<TWorkflows, Delegate>> workflow, DateTimeOffset runAt, object? input = null, IReadOnlyDictionary<string, string>? metadata = null, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(workflow);
        return scheduler.ScheduleAsync(WorkflowNames.Of(MethodOf(workflow)), runAt, input, metadata, idempotencyKey, cancellationToken);
    }

    /// <summary>
    /// Schedules a one-time run of a typed workflow reference: the compiler checks that <paramref name="input"/> is
    /// what the workflow's handler takes, for example
    /// <c>scheduler.ScheduleAsync(Reminders, runAt, new Reminder(42))</c> with
    /// <c>static readonly WorkflowRef&lt;Reminder&gt; Reminders = WorkflowRef.Of&lt;Reports, Reminder&gt;(r =&gt; r.Send)</c>.
    /// </summary>
    /// <typeparam name="TInput">The handler's input type.</typeparam>
    /// <param name="scheduler">The scheduler.</param>
    /// <param name="workflow">The workflow, from <see cref="WorkflowRef.Of{TWorkflows, TInput}"/>.</param>
    /// <param name="runAt">When to run it.</param>
    /// <param name="input">The input.</param>
    /// <param name="metadata">Metadata, or null.</param>
    /// <param name="idempotencyKey">An idempotency key, or null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The stored run (a value task: see <see cref="IScheduler.ScheduleAsync"/>).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="scheduler"/> or <paramref name="workflow"/> is null.</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ by the type of their required first argument (a method expression or a WorkflowRef), so a call can never be ambiguous.")]
    public static ValueTask<ScheduledRun> ScheduleAsync<TInput>(this IScheduler scheduler, WorkflowRef<TInput> workflow, DateTimeOffset runAt, TInput input, IReadOnlyDictionary<string, string>? metadata = null, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        ArgumentNullException.ThrowIfNull(workflow);
        return scheduler.ScheduleAsync(workflow.Name, runAt, input, metadata, idempotencyKey, cancellationToken);
    }

    internal static MethodInfo MethodOf(LambdaExpression expression)
    {
        // x => x.Method compiles to Convert(Call(CreateDelegate, typeof(...), x, Constant(MethodInfo)))
        var body = expression.Body is UnaryExpression { NodeType: ExpressionType.Convert } convert ? convert.Operand : expression.Body;
        if (body is MethodCallExpression call && call.Object is ConstantExpression { Value: MethodInfo method })
        {
            return method;
        }

        if (body is MethodCallExpression create && create.Arguments.LastOrDefault() is ConstantExpression { Value: MethodInfo legacy })
        {
            return legacy;
        }

        throw new ArgumentException($"'{expression}' is not a method group such as x => x.Method.", nameof(expression));
    }
}
