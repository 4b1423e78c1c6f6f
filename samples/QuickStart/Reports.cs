using Durable.Scheduling;

namespace QuickStart;

/// <summary>The input of the reminder workflow.</summary>
public sealed record Reminder(int CustomerId, string Text);

/// <summary>The sample's workflows: a recurring one every five seconds, and one run by one-time runs.</summary>
public sealed class Reports
{
    [Scheduled("*/5 * * * * *")]
    public Task Tick(ScheduledRunContext run, CancellationToken cancellationToken)
    {
        Print(run, "tick");
        return Task.CompletedTask;
    }

    [Workflow("send-reminder")]
    public Task SendReminder(Reminder input, ScheduledRunContext run, CancellationToken cancellationToken)
    {
        Print(run, $"reminder to customer {input.CustomerId}: {input.Text}");
        return Task.CompletedTask;
    }

    private static void Print(ScheduledRunContext run, string what) =>
        Console.WriteLine($"{run.WorkflowName,-13} scheduled {run.ScheduledTime:HH:mm:ss.fff}Z  started {run.StartedAt:HH:mm:ss.fff}Z  " +
                          $"(+{(run.StartedAt - run.ScheduledTime).TotalMilliseconds:0.000} ms)  attempt {run.Attempt}  {what}");
}
