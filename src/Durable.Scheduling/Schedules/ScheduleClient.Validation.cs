using System.Buffers;
using System.Text.Json;

namespace Durable.Scheduling.Schedules;

/// <summary>What <see cref="ScheduleClient"/> checks before it stores anything: each error names the field at fault.</summary>
internal sealed partial class ScheduleClient
{
    private const int MaxIdLength = 200;

    // Control characters (C0, DEL, C1: what char.IsControl answers) and the separators of run keys.
    private static readonly SearchValues<char> s_refusedInIds = SearchValues.Create(
        string.Concat(Enumerable.Range(0, 32).Concat(Enumerable.Range(127, 33)).Select(c => (char)c)) + "@!#~");

    /// <summary>An id as an error message shows it: quoted, and cut short when long (a message is no place for all of it).</summary>
    private static string Shown(string? id) =>
        id is null ? "null" : id.Length <= 60 ? $"'{id}'" : $"'{id[..60]}…' ({id.Length:N0} characters)";

    /// <summary>Validates a definition: the spec, the workflow, the input, metadata and policies.</summary>
    internal (ScheduleDocument Document, CompiledSpec Spec) Validate(ScheduleDefinition? definition)
    {
        if (definition is null)
        {
            throw new ScheduleSpecException("definition", "is null.");
        }

        if (string.IsNullOrWhiteSpace(definition.Id) || definition.Id.Length > MaxIdLength || definition.Id.AsSpan().ContainsAny(s_refusedInIds))
        {
            // The separators of run keys stay out of ids, so an occurrence's key can never equal a trigger's.
            throw new ScheduleSpecException("Id", $"{Shown(definition.Id)} must be 1 to {MaxIdLength} characters, not blank, without control characters or '@', '!', '#', '~'.");
        }

        var spec = CompiledSpec.Compile(definition.Spec, refuseNeverFiring: true);
        var workflow = registry.Find(definition.WorkflowName ?? "");
        if (workflow is null)
        {
            var known = string.Join(", ", registry.All.Select(w => w.Name).Order(StringComparer.Ordinal).Take(20));
            throw new ScheduleSpecException("WorkflowName", $"unknown workflow '{definition.WorkflowName}'. Known workflows: {(known.Length == 0 ? "none" : known)}.");
        }

        if (!Enum.IsDefined(definition.CatchUp))
        {
            throw new ScheduleSpecException("CatchUp", $"{definition.CatchUp} is not a defined CatchUpPolicy.");
        }

        if (!Enum.IsDefined(definition.Overlap))
        {
            throw new ScheduleSpecException("Overlap", $"{definition.Overlap} is not a defined OverlapPolicy.");
        }

        if (definition.CatchUpWindow is { } window && window <= TimeSpan.Zero)
        {
            throw new ScheduleSpecException("CatchUpWindow", $"{window} must be positive (null for the options' window).");
        }

        if (definition.MaxRuns is < 1)
        {
            throw new ScheduleSpecException("MaxRuns", $"{definition.MaxRuns} must be at least 1 (null for no limit).");
        }

        foreach (var (key, value) in definition.Metadata ?? throw new ScheduleSpecException("Metadata", "is null; leave it unset for none."))
        {
            if (string.IsNullOrEmpty(key) || value is null)
            {
                throw new ScheduleSpecException("Metadata", $"key '{key}' is empty or its value is null.");
            }
        }

        return (ScheduleDocument.From(definition, Input(workflow, definition.Input)), spec);
    }

    /// <summary>The input as JSON, checked against what the workflow takes.</summary>
    private JsonElement? Input(WorkflowDescriptor workflow, object? input)
    {
        var expected = workflow.Invoker.InputType;
        if (input is null)
        {
            return expected is not null && workflow.Invoker.InputRequired
                ? throw new ScheduleSpecException("Input", $"workflow '{workflow.Name}' requires an input of type {expected.FullName}; none was given.")
                : null;
        }

        if (expected is null)
        {
            throw new ScheduleSpecException("Input", $"workflow '{workflow.Name}' takes no input; an input of type {input.GetType().FullName} was given.");
        }

        try
        {
            JsonElement element;
            if (input is JsonElement json)
            {
                _ = JsonSerializer.Deserialize(json, expected, options.JsonSerializerOptions); // it must read as the type
                element = json.Clone();
            }
            else if (!expected.IsInstanceOfType(input))
            {
                throw new ScheduleSpecException("Input", $"workflow '{workflow.Name}' takes an input of type {expected.FullName}; an input of type {input.GetType().FullName} was given.");
            }
            else
            {
                element = JsonSerializer.SerializeToElement(input, expected, options.JsonSerializerOptions);
            }

            // JSON given as it is counts too: every occurrence carries it.
            return element.GetRawText().Length > options.MaxInputBytes
                ? throw new ScheduleSpecException("Input", $"the input's JSON is over the limit of {options.MaxInputBytes:N0} bytes (SchedulingOptions.MaxInputBytes).")
                : element;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            throw new ScheduleSpecException("Input", $"does not serialize as {expected.FullName}: {e.Message}", e);
        }
    }
}
