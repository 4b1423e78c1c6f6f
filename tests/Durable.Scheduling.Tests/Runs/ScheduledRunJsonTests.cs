using System.Text.Json;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Runs;

/// <summary>What an API returning a run shows: enums by name, the input as JSON, instants in UTC.</summary>
[TestFixture]
public sealed class ScheduledRunJsonTests
{
    private static readonly DateTimeOffset s_at = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void Serialized_HasStringEnums_AndTheInputAsJson_AndRoundTrips()
    {
        var run = new ScheduledRun
        {
            Id = Guid.NewGuid(),
            WorkflowName = "send-reminder",
            Kind = RunKind.OneTime,
            ScheduledTime = s_at,
            DueTime = s_at,
            Status = RunStatus.Failed,
            Attempt = 2,
            Input = """{"customerId":42,"text":"hi"}""",
            Metadata = new Dictionary<string, string> { ["customer"] = "a" },
            CreatedAt = s_at,
            Error = new RunError("System.InvalidOperationException", "boom"),
        };

        string json = JsonSerializer.Serialize(run, JsonSerializerOptions.Web);
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        root.GetProperty("status").GetString().Should().Be("Failed");
        root.GetProperty("kind").GetString().Should().Be("OneTime");
        root.GetProperty("input").ValueKind.Should().Be(JsonValueKind.Object, "the input is JSON, not a string holding JSON");
        root.GetProperty("input").GetProperty("customerId").GetInt32().Should().Be(42);
        root.GetProperty("scheduledTime").GetString().Should().Be("2026-06-01T12:00:00+00:00");
        root.TryGetProperty("dueTicks", out _).Should().BeFalse();

        var back = JsonSerializer.Deserialize<ScheduledRun>(json, JsonSerializerOptions.Web)!;
        back.Status.Should().Be(RunStatus.Failed);
        back.Input.Should().Be(run.Input);
        back.IdempotencyKey.Should().Be(run.IdempotencyKey);
        back.Metadata.Should().Equal(run.Metadata);
        back.Error.Should().Be(run.Error);

        var empty = JsonSerializer.Deserialize<ScheduledRun>(JsonSerializer.Serialize(run with { Input = null }, JsonSerializerOptions.Web), JsonSerializerOptions.Web)!;
        empty.Input.Should().BeNull();
    }
}
