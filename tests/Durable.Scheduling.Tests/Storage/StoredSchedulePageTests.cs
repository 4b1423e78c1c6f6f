using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Storage;

/// <summary>The page a SQL store makes of the rows it read (one more than the page, or up to a row past the prefix).</summary>
[TestFixture]
public sealed class StoredSchedulePageTests
{
    private static List<StoredSchedule> Rows(params string[] ids) =>
        [.. ids.Select(id => new StoredSchedule { Id = id, WorkflowName = "wf", Definition = "{}" })];

    [Test]
    public void OneRowMoreThanThePage_IsCut_AndTheTokenIsTheLastKept()
    {
        var page = StoredSchedulePage.FromRows(Rows("a", "b", "c"), 2, null);
        page.Items.Select(s => s.Id).Should().Equal("a", "b");
        page.ContinuationToken.Should().Be("b");
    }

    [Test]
    public void NoMoreRowsThanThePage_IsTheLastPage()
    {
        StoredSchedulePage.FromRows(Rows("a", "b"), 2, null).ContinuationToken.Should().BeNull();
        StoredSchedulePage.FromRows(Rows(), 5, "p").Items.Should().BeEmpty();
    }

    [Test]
    public void ARowPastThePrefix_EndsTheList_EvenWhenAFullPageWasRead()
    {
        var page = StoredSchedulePage.FromRows(Rows("p/1", "p/2", "q"), 2, "p/");
        page.Items.Select(s => s.Id).Should().Equal("p/1", "p/2");
        page.ContinuationToken.Should().BeNull("the row past the prefix shows that no other id holds it");

        StoredSchedulePage.FromRows(Rows("q"), 2, "p/").Items.Should().BeEmpty();
        StoredSchedulePage.FromRows(Rows("p/1", "p/2", "p/3"), 2, "p/").ContinuationToken.Should().Be("p/2");
        StoredSchedulePage.FromRows(Rows("P/1"), 2, "p/").Items.Should().BeEmpty("the prefix is ordinal: case counts");
    }

    [Test]
    public void BadArguments_AreRefused()
    {
        FluentActions.Invoking(() => StoredSchedulePage.FromRows(null!, 1, null)).Should().Throw<ArgumentNullException>();
        FluentActions.Invoking(() => StoredSchedulePage.FromRows(Rows(), 0, null)).Should().Throw<ArgumentOutOfRangeException>();
    }
}
