using System.Diagnostics;
using Durable.Scheduling.Engine.Maintenance;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine.Maintenance;

/// <summary>
/// The default instance id names this process on its machine, and a process whose id it is can be told gone only when
/// it is: never another machine's, namespace's or user's, nor a configured id, nor a process that still runs.
/// </summary>
[TestFixture]
public sealed class LocalOwnersTests
{
    [Test]
    public void AnIdOfThisProcess_NamesIt_AndIsNotGone()
    {
        string id = LocalOwners.NewId(Guid.NewGuid());
        var parts = id.Split('|');
        parts.Should().HaveCount(8);
        parts[1].Should().Be(Environment.MachineName);
        parts[5].Should().Be(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        LocalOwners.IsGone(id).Should().BeFalse("this process runs");
        LocalOwners.NewId(Guid.NewGuid()).Should().NotBe(id, "two schedulers of one process differ");
    }

    [Test]
    public void AnIdWhoseProcessEnded_OrWhoseNumberNowRunsAnotherProcess_OrOfAnEarlierBoot_IsGone()
    {
        var parts = LocalOwners.NewId(Guid.NewGuid()).Split('|');

        using var child = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        child.WaitForExit();
        LocalOwners.IsGone(With(parts, 5, child.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))).Should().BeTrue("that process ended");
        LocalOwners.IsGone(With(parts, 6, (long.Parse(parts[6], System.Globalization.CultureInfo.InvariantCulture) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))).Should().BeTrue("this process number now runs a process started at another time");
        LocalOwners.IsGone(With(parts, 2, Guid.NewGuid().ToString())).Should().BeTrue("the machine booted since");
    }

    [Test]
    public void AnIdOfAnotherMachine_OrNamespace_OrAConfiguredOne_IsNeverJudged()
    {
        var parts = LocalOwners.NewId(Guid.NewGuid()).Split('|');
        var dead = With(parts, 5, "999999999").Split('|');
        LocalOwners.IsGone(string.Join('|', dead)).Should().BeTrue("the control: no such process here");
        LocalOwners.IsGone(With(dead, 1, "another-machine")).Should().BeFalse();
        LocalOwners.IsGone(With(dead, 3, "pid:[1]")).Should().BeFalse("another process-id namespace (a container with the same host name)");
        LocalOwners.IsGone(With(dead, 4, "4242")).Should().BeFalse("another user, whose processes this one may not be allowed to see");
        LocalOwners.IsGone(With(dead, 0, "ds9")).Should().BeFalse();
        LocalOwners.IsGone("worker-7").Should().BeFalse();
        LocalOwners.IsGone(string.Join('|', dead) + "|more").Should().BeFalse();
        LocalOwners.IsGone("").Should().BeFalse();
    }

    private static string With(string[] parts, int index, string value)
    {
        var copy = (string[])parts.Clone();
        copy[index] = value;
        return string.Join('|', copy);
    }
}
