using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

[TestFixture]
public sealed class WatermarkNamesTests
{
    [Test]
    public void ASpecsName_ReadsBackAsItsScheduleAndInstant()
    {
        var since = new DateTimeOffset(2026, 3, 8, 7, 0, 0, TimeSpan.FromHours(-5)); // read back in UTC
        string name = WatermarkNames.OfSpec("reports/daily:eu", since);
        name.Should().Be("reports/daily:eu~" + since.UtcTicks);
        WatermarkNames.TryParseSpec(name, out var id, out var at).Should().BeTrue();
        id.ToString().Should().Be("reports/daily:eu");
        at.Should().Be(since);
        at.Offset.Should().Be(TimeSpan.Zero);
        WatermarkNames.TryParseSpec(WatermarkNames.OfSpec("x", DateTimeOffset.MinValue), out _, out var min).Should().BeTrue();
        min.Should().Be(DateTimeOffset.MinValue);
        WatermarkNames.TryParseSpec(WatermarkNames.OfSpec("x", DateTimeOffset.MaxValue), out _, out var max).Should().BeTrue();
        max.Should().Be(DateTimeOffset.MaxValue);
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("nightly")] // a code-defined schedule on its first spec, or a workflow's name
    [TestCase("~123")] // no id
    [TestCase("a~")] // no instant
    [TestCase("a~0123")] // not as OfSpec writes it
    [TestCase("a~12x")]
    [TestCase("a~-5")]
    [TestCase("a~+5")]
    [TestCase("a~ 5")]
    [TestCase("a~99999999999999999999")] // past long
    [TestCase("a~3155378976000000000")] // past the last instant
    [TestCase("a~1~2")] // ids hold no '~'
    public void AnyOtherName_IsPlain(string? name)
    {
        WatermarkNames.TryParseSpec(name, out var id, out var at).Should().BeFalse();
        id.IsEmpty.Should().BeTrue();
        at.Should().Be(default);
    }

    [Test]
    public void OfSpec_RefusesNoId() =>
        FluentActions.Invoking(() => WatermarkNames.OfSpec(null!, DateTimeOffset.UnixEpoch)).Should().Throw<ArgumentNullException>().WithParameterName("scheduleId");
}
