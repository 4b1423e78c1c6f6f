using System.Text.Json;
using System.Text.Json.Serialization;

namespace Durable.Scheduling.Schedules;

/// <summary>
/// A schedule's definition as stored (the store keeps it as opaque JSON): everything but the id, workflow and
/// metadata, which the store keeps as columns it can filter on.
/// </summary>
internal sealed record ScheduleDocument
{
    // Reading: by reflection, which leaves a property the JSON does not hold at its initial value (the generated reader
    // would set init-only properties it does not find to null). Writing: the generated writer below.
    private static readonly JsonSerializerOptions s_read = new()
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
    };


    public required ScheduleSpec Spec { get; init; }

    public JsonElement? Input { get; init; }

    public CatchUpPolicy CatchUp { get; init; }

    public TimeSpan? CatchUpWindow { get; init; }

    public OverlapPolicy Overlap { get; init; }

    public long? MaxRuns { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this with { Spec = Compact(Spec) }, ScheduleJson.Default.ScheduleDocument);

    /// <summary>The spec without its empty lists and default zone, which reading restores (they are the initial values).</summary>
    internal static ScheduleSpec Compact(ScheduleSpec spec) => spec with
    {
        Cron = spec.Cron is { Count: > 0 } ? spec.Cron : null!,
        Intervals = spec.Intervals is { Count: > 0 } ? spec.Intervals : null!,
        Calendars = spec.Calendars is { Count: > 0 } ? spec.Calendars : null!,
        Skip = spec.Skip is { Count: > 0 } ? spec.Skip : null!,
        TimeZone = spec.TimeZone == "UTC" ? null! : spec.TimeZone,
    };

    public static ScheduleDocument FromJson(string json) =>
        JsonSerializer.Deserialize<ScheduleDocument>(json, s_read) ?? throw new JsonException("The stored schedule definition is null.");

    /// <summary>The spec alone as JSON (to tell whether an update changed it).</summary>
    public static string SpecJson(ScheduleSpec spec) => JsonSerializer.Serialize(Compact(spec), ScheduleJson.Default.ScheduleSpec);

    public static ScheduleDocument From(ScheduleDefinition definition, JsonElement? input) => new()
    {
        Spec = definition.Spec,
        Input = input,
        CatchUp = definition.CatchUp,
        CatchUpWindow = definition.CatchUpWindow,
        Overlap = definition.Overlap,
        MaxRuns = definition.MaxRuns,
    };

    public ScheduleDefinition ToDefinition(string id, string workflow, IReadOnlyDictionary<string, string> metadata) => new()
    {
        Id = id,
        WorkflowName = workflow,
        Spec = Spec,
        Input = Input,
        Metadata = metadata,
        CatchUp = CatchUp,
        CatchUpWindow = CatchUpWindow,
        Overlap = Overlap,
        MaxRuns = MaxRuns,
    };
}

/// <summary>
/// The stored definition's writer, generated at build time (a schedule is written at each create and update): enums as
/// names, defaults left out so a schedule is stored compactly; what the reflection-based writer with those options wrote.
/// </summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Serialization, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(ScheduleDocument))]
[JsonSerializable(typeof(ScheduleSpec))]
internal sealed partial class ScheduleJson : JsonSerializerContext;
