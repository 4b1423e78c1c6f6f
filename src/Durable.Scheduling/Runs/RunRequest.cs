namespace Durable.Scheduling;

/// <summary>One one-time run to schedule with <see cref="IScheduler.ScheduleManyAsync"/>.</summary>
/// <param name="Workflow">The workflow name.</param>
/// <param name="RunAt">When to run it.</param>
/// <param name="Input">The input (an instance of the workflow's input type, or a <see cref="System.Text.Json.JsonElement"/> that reads as one; serialized to JSON), or null.</param>
/// <param name="Metadata">Metadata, or null.</param>
/// <param name="IdempotencyKey">An idempotency key, or null for a new run each time.</param>
public sealed record RunRequest(string Workflow, DateTimeOffset RunAt, object? Input = null, IReadOnlyDictionary<string, string>? Metadata = null, string? IdempotencyKey = null);
