using System.Text.Json;
using System.Text.Json.Serialization;
using Durable.Scheduling.Schedules;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>
/// The stored definition's JSON is a format other versions read: the serializer generated at build time writes exactly
/// what the reflection-based one with the same options wrote (so definitions stored before read back the same), and
/// reads back what it wrote.
/// </summary>
[TestFixture]
public sealed class ScheduleDocumentTests
{
    // The options the definition was serialized with before the generated serializer.
    private static readonly JsonSerializerOptions s_reflection = new()
    {
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault,
    };

    private static IEnumerable<TestCaseData> Documents()
    {
        yield return Case("one cron", new ScheduleDocument { Spec = ScheduleSpec.FromCron("0 9 * * MON-FRI") });
        yield return Case("everything", new ScheduleDocument
        {
            Spec = new ScheduleSpec
            {
                Cron = ["*/5 * * * * *", "0 0 12 * * *"],
                Intervals = [new ScheduleInterval(TimeSpan.FromMinutes(5)), new ScheduleInterval(TimeSpan.FromDays(1), TimeSpan.FromHours(9))],
                Calendars = [new ScheduleCalendar { Hour = "9-17", DayOfWeek = "MON-FRI", Year = "2027", Comment = "office" }],
                Skip = [new ScheduleCalendar { Month = "12", DayOfMonth = "25" }],
                TimeZone = "Australia/Lord_Howe",
                StartAt = new DateTimeOffset(2027, 1, 2, 3, 4, 5, TimeSpan.FromHours(10.5)),
                EndAt = new DateTimeOffset(2028, 1, 1, 0, 0, 0, TimeSpan.Zero),
                Jitter = TimeSpan.FromSeconds(30),
            },
            Input = JsonDocument.Parse("""{"order":42,"tags":["a","b"],"note":"\u00e9 \"quoted\""}""").RootElement,
            CatchUp = CatchUpPolicy.Latest,
            CatchUpWindow = TimeSpan.FromHours(2),
            Overlap = OverlapPolicy.Skip,
            MaxRuns = 7,
        });
        yield return Case("zero window, zero runs", new ScheduleDocument
        {
            Spec = ScheduleSpec.FromInterval("30s"),
            CatchUpWindow = TimeSpan.Zero,
            MaxRuns = 0,
        });
    }

    [TestCaseSource(nameof(Documents))]
    public void ToJson_WritesWhatTheReflectionSerializerWrote_AndReadsBackTheSame(object documentCase)
    {
        var document = (ScheduleDocument)documentCase; // an internal type: a public test method takes it as an object
        string json = document.ToJson();
        string before = JsonSerializer.Serialize(document with { Spec = ScheduleDocument.Compact(document.Spec) }, s_reflection);
        json.Should().Be(before);

        var read = ScheduleDocument.FromJson(before);
        read.ToJson().Should().Be(json);
        JsonSerializer.Serialize(read.Spec, s_reflection).Should().Be(JsonSerializer.Serialize(document.Spec, s_reflection));
        read.CatchUp.Should().Be(document.CatchUp);
        read.CatchUpWindow.Should().Be(document.CatchUpWindow);
        read.Overlap.Should().Be(document.Overlap);
        read.MaxRuns.Should().Be(document.MaxRuns);
        (read.Input is { } a && document.Input is { } b ? JsonElement.DeepEquals(a, b) : read.Input is null).Should().BeTrue("the input reads back the same");
        ScheduleDocument.SpecJson(document.Spec).Should().Be(JsonSerializer.Serialize(ScheduleDocument.Compact(document.Spec), s_reflection));
    }

    private static TestCaseData Case(string name, ScheduleDocument document) => new TestCaseData(document).SetName("ToJson: " + name);
}
