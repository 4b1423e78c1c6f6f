using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Microsoft.Extensions.Time.Testing;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Hosting;

[TestFixture]
public sealed class AddSchedulingTests
{
    [Test]
    public void AddScheduling_CalledTwice_RegistersOnce_AndKeepsBothConfigurations()
    {
        var services = new ServiceCollection();
        services.AddScheduling(o => o.MaxConcurrency = 7);
        services.AddScheduling(o => o.BatchSize = 50).UseInMemoryStore();
        services.Count(d => d.ServiceType == typeof(IHostedService)).Should().Be(1);
        services.Count(d => d.ServiceType == typeof(IScheduler)).Should().Be(1);
        using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<IOptions<SchedulingOptions>>().Value;
        options.MaxConcurrency.Should().Be(7);
        options.BatchSize.Should().Be(50);
        provider.GetRequiredService<ISchedulingStore>().Should().BeOfType<InMemorySchedulingStore>();
    }

    [Test]
    public void Builder_ChoosesTheStore_InOnePlace_TheLastCallWins()
    {
        var mine = new InMemorySchedulingStore(maxEndedRuns: 10);
        var services = new ServiceCollection();
        services.AddScheduling().UseInMemoryStore().UseStore(_ => mine);
        services.AddScheduling(); // a later AddScheduling keeps the choice
        services.Count(d => d.ServiceType == typeof(ISchedulingStore)).Should().Be(1);
        using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<ISchedulingStore>().Should().BeSameAs(mine);
        provider.GetRequiredService<ISchedulerActivity>().IsIdle.Should().BeTrue("nothing has started");

        var badCap = () => new ServiceCollection().AddScheduling().UseInMemoryStore(maxEndedRuns: 0);
        badCap.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("maxEndedRuns");
    }

    [Test]
    public async Task WorkflowTypes_AndAddWorkflow_RegisterWorkflowsFromCode_WithoutScanningTheEntryAssembly()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<RunLog>();
        var send = typeof(OneTimeWorkflows).GetMethod(nameof(OneTimeWorkflows.Send))!;
        services.AddScheduling(o =>
        {
            o.WorkflowTypes.Add(typeof(EveryFiveSeconds));
            o.AddWorkflow(send, new WorkflowAttribute { Name = "send-again" });
        });
        await using var provider = services.BuildServiceProvider();
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StartAsync(default);
        }

        var scheduler = provider.GetRequiredService<IScheduler>();
        var run = await scheduler.ScheduleAsync("send-again", DateTimeOffset.UtcNow.AddHours(1), new Reminder(1, "x"));
        run.WorkflowName.Should().Be("send-again");
        var notRegistered = async () => await scheduler.ScheduleAsync("send-reminder", DateTimeOffset.UtcNow.AddHours(1), new Reminder(1, "x"));
        await notRegistered.Should().ThrowAsync<ArgumentException>("only the listed type and the method added from code are workflows");
        foreach (var hosted in provider.GetServices<IHostedService>())
        {
            await hosted.StopAsync(default);
        }

        var unnamed = () => new SchedulingOptions().AddWorkflow(send, new WorkflowAttribute());
        unnamed.Should().Throw<ArgumentException>().WithParameterName("attribute");
    }

    [Test]
    public async Task HostStart_WithNoWorkflowFound_WarnsNamingWhatWasScannedAndHowToAddMore()
    {
        var logs = new CapturedLogs();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs);
        services.AddScheduling(o => o.WorkflowTypes.Add(typeof(AddSchedulingTests))); // a type with no workflow
        await using var provider = services.BuildServiceProvider();
        var host = provider.GetRequiredService<IHostedService>();
        await host.StartAsync(CancellationToken.None);
        await host.StopAsync(CancellationToken.None);
        logs.Entries.Should().Contain(e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains("No workflows were found", StringComparison.Ordinal)
            && e.Message.Contains(typeof(AddSchedulingTests).FullName!, StringComparison.Ordinal) && e.Message.Contains("Assemblies.Add", StringComparison.Ordinal));
    }

    [Test]
    public void AddScheduling_WithInvalidOption_FailsNamingIt()
    {
        var services = new ServiceCollection();
        services.AddScheduling(o => o.MaxConcurrency = 0);
        using var provider = services.BuildServiceProvider();
        var act = () => provider.GetRequiredService<IOptions<SchedulingOptions>>().Value;
        act.Should().Throw<OptionsValidationException>().WithMessage("*MaxConcurrency*");
    }

    [Test]
    public async Task HostStart_WithMisconfiguredWorkflows_FailsListingEveryBadMethod()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<RunLog>();
        services.AddScheduling(o =>
        {
            o.WorkflowTypes.Add(typeof(BrokenWorkflows));
            o.WorkflowTypes.Add(typeof(OneTimeWorkflows));
            o.WorkflowTypes.Add(typeof(NeedsUnregisteredService));
        });
        await using var provider = services.BuildServiceProvider();
        var act = () => provider.GetRequiredService<IHostedService>().StartAsync(CancellationToken.None);
        var error = (await act.Should().ThrowAsync<SchedulingConfigurationException>()).Which;
        error.Problems.Should().HaveCount(8);
        error.Message.Should().Contain("BadCron").And.Contain("Minutes")
            .And.Contain("Mars/Olympus_Mons")
            .And.Contain("TwoInputs").And.Contain("at most one input")
            .And.Contain("ReturnsInt").And.Contain("Int32")
            .And.Contain("'send-reminder' is already used")
            .And.Contain("AsyncVoid").And.Contain("async void")
            .And.Contain("UnregisteredService").And.Contain("'sender'").And.Contain("IUnregisteredSender").And.Contain("not a registered service")
            .And.Contain("NeedsUnregisteredService").And.Contain("constructor parameter 'sender'");
    }

    [Test]
    public async Task HostStart_WithATimeoutOrRetryDelayBeyondItsLimit_FailsNamingEach()
    {
        // A timeout beyond what the timers enforcing it can wait made every attempt fail at its start; a retry delay too
        // large for a TimeSpan failed start-up with an unnamed overflow.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddScheduling(o => o.WorkflowTypes.Add(typeof(OutOfRangeWorkflows)));
        await using var provider = services.BuildServiceProvider();
        var act = () => provider.GetRequiredService<IHostedService>().StartAsync(CancellationToken.None);
        var error = (await act.Should().ThrowAsync<SchedulingConfigurationException>()).Which;
        error.Problems.Should().HaveCount(3);
        error.Message.Should().Contain("SixtyDays").And.Contain("TimeoutSeconds must be between 0 (none) and 2592000")
            .And.Contain("NotANumber")
            .And.Contain("HugeRetry").And.Contain("RetryDelaySeconds must be between 0 and 86400");

        var options = new ServiceCollection().AddScheduling(o => o.DefaultTimeout = TimeSpan.FromDays(31)).Services.BuildServiceProvider();
        FluentActions.Invoking(() => options.GetRequiredService<Microsoft.Extensions.Options.IOptions<SchedulingOptions>>().Value)
            .Should().Throw<Microsoft.Extensions.Options.OptionsValidationException>().WithMessage("*DefaultTimeout*");
    }

    [Test]
    public async Task HostStart_WithAScheduledCronThatMatchesNoDate_FailsNamingIt()
    {
        // 30 February parses, and would never fire: the schedule sat in every list with no next fire time, silently.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddScheduling(o => o.WorkflowTypes.Add(typeof(NeverFiringWorkflows)));
        await using var provider = services.BuildServiceProvider();
        var act = () => provider.GetRequiredService<IHostedService>().StartAsync(CancellationToken.None);
        var error = (await act.Should().ThrowAsync<SchedulingConfigurationException>()).Which;
        error.Problems.Should().ContainSingle().Which.Should().Contain("ThirtiethOfFebruary").And.Contain("'0 0 30 2 *' matches no date");
    }

    public static class NeverFiringWorkflows
    {
        [Scheduled("0 0 30 2 *")]
        public static void ThirtiethOfFebruary() { }

        [Scheduled("0 0 29 2 1")] // a 29 February that is a Monday: once in 28 years at most, but it comes
        public static void LeapDayOnAMonday() { }
    }

    [Test]
    public async Task AWorkflowWithTheLongestTimeout_Runs()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero));
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddScheduling(o => o.WorkflowTypes.Add(typeof(LongTimeoutWorkflows)));
        using var host = builder.Build();
        await host.StartAsync();
        var scheduler = host.Services.GetRequiredService<IScheduler>();
        var run = await scheduler.ScheduleAsync("thirty-days", time.GetUtcNow());
        var activity = host.Services.GetRequiredService<ISchedulerActivity>();
        for (int i = 0; i < 100 && (await scheduler.GetAsync(run.Id))!.Status != RunStatus.Succeeded; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            SpinWait.SpinUntil(() => activity.IsIdle, TimeSpan.FromSeconds(5));
        }

        var ended = await scheduler.GetAsync(run.Id);
        ended!.Status.Should().Be(RunStatus.Succeeded, ended.Error?.Message);
        await host.StopAsync();
    }

    /// <summary>Limits a start-up must refuse.</summary>
    public static class OutOfRangeWorkflows
    {
        [Workflow(TimeoutSeconds = 60 * 86_400)]
        public static void SixtyDays() { }

        [Workflow(TimeoutSeconds = double.NaN)]
        public static void NotANumber() { }

        [Workflow(RetryDelaySeconds = 1e15)]
        public static void HugeRetry() { }
    }

    /// <summary>The longest timeout there is.</summary>
    public static class LongTimeoutWorkflows
    {
        [Workflow("thirty-days", TimeoutSeconds = 30 * 86_400)]
        public static void ThirtyDays() { }
    }

    [Test]
    public async Task Host_RunsScheduledWorkflow_UsingTimeProviderFromContainer()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero));
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<TimeProvider>(time);
        builder.Services.AddSingleton<RunLog>();
        builder.Services.AddScheduling(o =>
        {
            o.WorkflowTypes.Add(typeof(EveryFiveSeconds));
        });
        using var host = builder.Build();
        await host.StartAsync();
        var log = host.Services.GetRequiredService<RunLog>();
        var activity = host.Services.GetRequiredService<ISchedulerActivity>();
        await SettleAsync(); // the occurrence at the start instant runs before the clock moves on
        for (int i = 0; i < 3; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
            await SettleAsync();
        }

        await host.StopAsync();
        log.Of("every-5s").Select(r => r.Scheduled).Should().Equal(
            time.GetUtcNow().AddSeconds(-15), time.GetUtcNow().AddSeconds(-10), time.GetUtcNow().AddSeconds(-5), time.GetUtcNow());

        async Task SettleAsync()
        {
            while (!(activity.IsIdle && activity.RunningHandlers == 0))
            {
                await Task.Yield();
            }
        }
    }
}
