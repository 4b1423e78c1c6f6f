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

    private static MethodInfo MethodOf(LambdaExpression expression)
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
