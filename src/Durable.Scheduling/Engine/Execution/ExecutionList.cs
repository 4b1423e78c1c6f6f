namespace Durable.Scheduling.Engine.Execution;

/// <summary>The executions started and not yet seen ended: an intrusive list (O(1) add and remove, no hashing). Loop-owned.</summary>
internal sealed class ExecutionList
{
    public RunExecution? First { get; private set; }

    public void Add(RunExecution execution)
    {
        execution.Next = First;
        if (First is not null)
        {
            First.Previous = execution;
        }

        First = execution;
    }

    public void Remove(RunExecution execution)
    {
        if (execution.Previous is null && First != execution)
        {
            return; // not in the list
        }

        if (execution.Previous is not null)
        {
            execution.Previous.Next = execution.Next;
        }
        else
        {
            First = execution.Next;
        }

        if (execution.Next is not null)
        {
            execution.Next.Previous = execution.Previous;
        }

        execution.Previous = null;
        execution.Next = null;
    }

    public List<RunExecution> ToList()
    {
        var all = new List<RunExecution>();
        for (var execution = First; execution is not null; execution = execution.Next)
        {
            all.Add(execution);
        }

        return all;
    }
}
