using System.Diagnostics.Tracing;

namespace Durable.Scheduling.Benchmarks;

/// <summary>Samples allocations by type (the runtime's AllocationTick event, about one per 100 KB) while enabled.</summary>
internal sealed class AllocationSampler : EventListener
{
    private readonly Dictionary<string, long> _bytes = [];
    public volatile bool Active;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1); // GC keyword
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!Active || e.EventName != "GCAllocationTick_V4" || e.Payload is null)
        {
            return;
        }

        string type = e.Payload[e.PayloadNames!.IndexOf("TypeName")]?.ToString() ?? "?";
        lock (_bytes)
        {
            _bytes[type] = _bytes.GetValueOrDefault(type) + 100_000;
        }
    }

    public void Print(int runs)
    {
        lock (_bytes)
        {
            foreach (var (type, bytes) in _bytes.OrderByDescending(p => p.Value).Take(25))
            {
                Console.WriteLine($"  {bytes / (double)runs,8:F1} B/run  {type}");
            }
        }
    }
}
