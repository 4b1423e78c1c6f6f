using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>One-time runs through <see cref="IScheduler"/>: CRUD, bulk operations, failures, timeouts and shutdown.</summary>
[TestFixture]
public sealed class OneTimeRunTests
{
    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static SchedulerHarness NewHarness(ISchedulingStore? store = null, DateTimeOffset? start = null) =>
        new(start ?? s_start, [typeof(OneTimeWorkflows)], store: store);

    private static SchedulerHarness NewHarness(Action<SchedulingOptions> configure) => new(s_start, [typeof(OneTimeWorkflows)], configure);

    [Test]
    public async Task ATypedWorkflowReference_CarriesTheInputType_AndIsCheckedWhenMade()
    {
        // The compiler now checks the input: ScheduleAsync(reminders, at, new Invoice(...)) does not compile.
        var reminders = WorkflowRef.Of<OneTimeWorkflows, Reminder>(w => w.Send);
        reminders.Name.Should().Be("send-reminder");
        var wrong = () => WorkflowRef.Of<OneTimeWorkflows, Invoice>(w => w.Send);
        wrong.Should().Throw<ArgumentException>().WithMessage("*Send*send-reminder*Invoice*Reminder input*");

        await using var harness = NewHarness();
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync(reminders, s_start.AddSeconds(5), new Reminder(3, "typed"));
        await harness.RunForAsync(TimeSpan.FromSeconds(10));
        harness.Log.Of("send-reminder").Should().ContainSingle().Which.RunId.Should().Be(run.Id);
    }

    [Test]
    public async Task ARunsActivity_ContinuesTheTraceThatScheduledIt_WithItsStatus_AndASuccessIsLoggedAtDebugWithItsDuration()
    {
        var logs = new CapturedLogs();
        var stopped = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name is "Durable.Scheduling" or "test-caller",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        using var caller = new System.Diagnostics.ActivitySource("test-caller");
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], services: s =>
        {
            s.AddSingleton<ILoggerProvider>(logs);
            s.AddLogging(l => l.SetMinimumLevel(LogLevel.Debug));
        });
        await harness.StartAsync();
        ScheduledRun ok, failing;
        System.Diagnostics.ActivityTraceId traceId;
        using (var request = caller.StartActivity("POST /reminders")!)
        {
            traceId = request.TraceId;
            ok = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(5), new Reminder(1, "x"));
            failing = await harness.Scheduler.ScheduleAsync("always-fails", s_start.AddSeconds(5));
        }

        ok.TraceParent.Should().StartWith("00-" + traceId.ToHexString());
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        var runs = stopped.Where(a => a.OperationName == "durable.scheduling.run").ToList();
        var okRun = runs.Single(a => (Guid)a.GetTagItem("durable.scheduling.run_id")! == ok.Id);
        okRun.TraceId.Should().Be(traceId, "the run continues the trace of the request that scheduled it");
        okRun.Links.Should().ContainSingle().Which.Context.TraceId.Should().Be(traceId, "and links to it");
        okRun.Status.Should().Be(System.Diagnostics.ActivityStatusCode.Ok);
        runs.Where(a => (Guid)a.GetTagItem("durable.scheduling.run_id")! == failing.Id).Should().HaveCount(3)
            .And.OnlyContain(a => a.Status == System.Diagnostics.ActivityStatusCode.Error && a.StatusDescription!.Contains("boom", StringComparison.Ordinal));
        logs.Entries.Should().Contain(e => e.Level == LogLevel.Debug && e.Message.Contains(ok.Id.ToString(), StringComparison.Ordinal) && e.Message.Contains("succeeded in", StringComparison.Ordinal));
    }

    [Test]
    public async Task AnInputOfTheWrongType_OrMissing_OrForAWorkflowWithoutOne_IsRefusedAtTheCall()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var wrongType = () => harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Invoice(42, 9.5m));
        wrongType.Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*send-reminder*Reminder*Invoice*");
        var missing = () => harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1));
        missing.Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*requires an input*");
        var unexpected = () => harness.Scheduler.ScheduleAsync("OneTimeWorkflows.NoInput", s_start.AddHours(1), new Reminder(1, "x"));
        unexpected.Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*takes no input*");
        (await harness.Scheduler.ListAsync(new RunQuery())).Items.Should().BeEmpty("nothing refused was stored");
    }

    [TestCase("""{"customerId":1,"text":"x","extra":true}""", "extra", Description = "an unknown member")]
    [TestCase("""{"customerId":1}""", "text", Description = "a missing required member")]
    [TestCase("""{"customerId":1,"text":null}""", "text", Description = "null for a non-nullable member")]
    [TestCase("null", "requires", Description = "no input for a handler that requires one")]
    public async Task AStoredInputThatDoesNotMatch_FailsTheRun_NamingWorkflowRunAndMember(string json, string named)
    {
        // Stored by an older version of the application, or written by hand: read strictly, never defaulted in silence.
        var store = new InMemorySchedulingStore();
        var run = TestRuns.OneTime("send-reminder", s_start.AddSeconds(1), json == "null" ? null : json, s_start);
        await store.InsertAsync([run], default);
        await using var harness = NewHarness(store);
        await harness.StartAsync();
        await harness.RunForAsync(TimeSpan.FromMinutes(1));

        harness.Log.Of("send-reminder").Should().BeEmpty("the handler never sees a half-read input");
        var failed = await harness.Scheduler.GetAsync(run.Id);
        failed!.Status.Should().Be(RunStatus.Failed);
        failed.Error!.Type.Should().Be("System.Text.Json.JsonException");
        failed.Error.Message.Should().Contain("send-reminder").And.Contain(run.Id.ToString()).And.Contain(named);
    }

    [Test]
    public async Task RunsOfAWorkflowRemovedFromCode_AreReported_Listed_AndPurgeable()
    {
        var store = new InMemorySchedulingStore();
        await store.InsertAsync([TestRuns.OneTime("removed-workflow", s_start.AddMinutes(-5), null, s_start), TestRuns.OneTime("removed-workflow", s_start.AddMinutes(5), null, s_start)], default);
        var logs = new CapturedLogs();
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], store: store, services: s => s.AddSingleton<ILoggerProvider>(logs));
        await harness.StartAsync();
        await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddMinutes(1), new Reminder(1, "x"));
        await harness.RunForAsync(TimeSpan.FromMinutes(10));

        logs.Entries.Should().Contain(e => e.Level == LogLevel.Warning && e.Message.Contains("2 pending runs", StringComparison.Ordinal) && e.Message.Contains("removed-workflow", StringComparison.Ordinal));
        var orphaned = await harness.Scheduler.ListAsync(new RunQuery { OrphanedOnly = true });
        orphaned.Items.Should().HaveCount(2).And.OnlyContain(r => r.WorkflowName == "removed-workflow" && r.Status == RunStatus.Pending);
        (await harness.Scheduler.BulkDeleteAsync(new RunQuery { OrphanedOnly = true })).Should().Be(2);
        (await harness.Scheduler.ListAsync(new RunQuery { OrphanedOnly = true })).Items.Should().BeEmpty();
        harness.Log.Of("send-reminder").Should().ContainSingle("runs of defined workflows are neither orphaned nor purged");
    }

    [Test]
    public async Task EnsureScheduledAsync_SaysWhetherItCreatedTheRun_OrFoundItUnderTheKey()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var request = new RunRequest("send-reminder", s_start.AddHours(1), new Reminder(1, "x"), IdempotencyKey: "order-42");
        var first = await harness.Scheduler.EnsureScheduledAsync(request);
        first.Created.Should().BeTrue();
        var second = await harness.Scheduler.EnsureScheduledAsync(request with { RunAt = s_start.AddHours(2) });
        second.Created.Should().BeFalse("the key existed");
        second.Run.Id.Should().Be(first.Run.Id);
        second.Run.ScheduledTime.Should().Be(s_start.AddHours(1), "nothing was changed");
    }

    [Test]
    public async Task AProcessThatOnlySchedules_NeverExecutesRuns_TheWorkerDoes()
    {
        var store = new InMemorySchedulingStore();
        await using var frontEnd = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows), typeof(EveryFiveSeconds)], o => o.ExecuteRuns = false, store);
        await using var worker = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows), typeof(EveryFiveSeconds)], store: store);
        await frontEnd.StartAsync();
        await worker.StartAsync();
        await frontEnd.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(30), new Reminder(7, "from the web"));
        var unknown = () => frontEnd.Scheduler.ScheduleAsync("no-such-workflow", s_start.AddSeconds(30));
        unknown.Should().Throw<ArgumentException>("names are still checked where nothing runs");
        for (int step = 1; step <= 12; step++)
        {
            await frontEnd.RunUntilAsync(s_start.AddSeconds(5 * step));
            await worker.RunUntilAsync(s_start.AddSeconds(5 * step));
        }

        frontEnd.Log.Invocations.Should().BeEmpty("this process only schedules");
        worker.Log.Of("send-reminder").Should().ContainSingle().Which.Started.Should().BeOnOrAfter(s_start.AddSeconds(30));
        worker.Log.Of("every-5s").Should().HaveCount(13, "the worker creates and runs the occurrences");
    }

    [Test]
    public async Task ScheduleAsync_RefusesRunTimesOutsideTheDocumentedRange_NamingTheArgument()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        foreach (var bad in new[] { default, DateTimeOffset.MinValue, DateTimeOffset.MaxValue, SchedulingLimits.EarliestRunTime.AddTicks(-1), SchedulingLimits.LatestRunTime.AddTicks(1) })
        {
            var act = () => harness.Scheduler.ScheduleAsync("send-reminder", bad, new Reminder(1, "x"));
            act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("runAt");
        }

        var run = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Reminder(1, "x"));
        var reschedule = async () => await harness.Scheduler.RescheduleAsync(run.Id, DateTimeOffset.MaxValue);
        await reschedule.Should().ThrowAsync<ArgumentOutOfRangeException>().WithParameterName("runAt");
        var many = async () => await harness.Scheduler.ScheduleManyAsync([new RunRequest("send-reminder", default)]);
        await many.Should().ThrowAsync<ArgumentOutOfRangeException>();
        (await harness.Scheduler.ListAsync(new RunQuery())).Items.Should().ContainSingle("nothing refused was stored");
    }

    [Test]
    public async Task ScheduleAsync_WithAnInputThatCannotBeSerialized_ThrowsTheDocumentedNotSupportedException()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var cycle = new Cycle();
        cycle.Next = cycle;
        var act = () => harness.Scheduler.ScheduleAsync("takes-object", s_start.AddHours(1), cycle);
        act.Should().Throw<NotSupportedException>().WithMessage("*Cycle*").WithInnerException<System.Text.Json.JsonException>();
    }

    [Test]
    public async Task ScheduleAsync_WithAnInputOverTheLimit_IsRefused_GivingItsSizeAndTheLimit()
    {
        await using var harness = NewHarness(o => o.MaxInputBytes = 1000);
        await harness.StartAsync();
        var act = () => harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Reminder(1, new string('x', 2000)));
        act.Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*2,0*bytes*limit is 1,000*MaxInputBytes*");
        (await harness.Scheduler.ListAsync(new RunQuery())).Items.Should().BeEmpty();
    }

    [Test]
    public async Task ScheduleAsync_TakesJsonThatReadsAsTheInputType_AsASchedulesInputDoes_AndRefusesJsonThatDoesNot()
    {
        // JSON from elsewhere (an HTTP body) was refused for a one-time run as "an input of type JsonElement", though a
        // schedule's definition takes it.
        await using var harness = NewHarness(o => o.MaxInputBytes = 1000);
        await harness.StartAsync();
        var json = System.Text.Json.JsonDocument.Parse("""{ "CustomerId": 7, "Text": "from json" }""").RootElement;
        var run = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddMinutes(1), json);
        var inBatch = await harness.Scheduler.ScheduleManyAsync([new RunRequest("send-reminder", s_start.AddMinutes(1), json)]);

        var notAReminder = () => harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddMinutes(1), System.Text.Json.JsonDocument.Parse("[1, 2]").RootElement);
        notAReminder.Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*Reminder*does not read as one*");
        var tooLong = () => harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddMinutes(1), System.Text.Json.JsonDocument.Parse($$"""{ "CustomerId": 1, "Text": "{{new string('x', 2000)}}" }""").RootElement);
        tooLong.Should().Throw<ArgumentException>().WithParameterName("input").WithMessage("*limit is 1,000*");

        await harness.RunUntilAsync(s_start.AddMinutes(2));
        harness.Log.Of("send-reminder").Select(i => (Reminder)i.Input!).Should().Equal(new Reminder(7, "from json"), new Reminder(7, "from json"));
        (await harness.Scheduler.ListAsync(new RunQuery())).Items.Select(r => r.Id).Should().BeEquivalentTo([run.Id, inBatch[0].Id], "nothing refused was stored");
    }

    public sealed class Cycle
    {
        public Cycle? Next { get; set; }
    }

    [Test]
    public async Task PollIntervalLongerThanTheLease_LeasesAreStillRenewed_SoAnotherInstanceNeverTakesTheRunOver()
    {
        // Leases are renewed on their own schedule (a third of the lease), not only when the loop feeds every poll.
        var store = new InMemorySchedulingStore();
        await using var first = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => Options(o, 10), store);
        await using var second = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => Options(o, 7), store);
        await first.StartAsync();
        await second.StartAsync();
        var run = await first.Scheduler.ScheduleAsync("slow", s_start.AddSeconds(5));
        for (int step = 1; step <= 25 * 6; step++)
        {
            var until = s_start.AddSeconds(10 * step);
            await first.RunUntilAsync(until);
            await second.RunUntilAsync(until);
        }

        first.Log.Of("slow").Concat(second.Log.Of("slow")).Should().ContainSingle("the lease never lapsed while the handler ran");
        (await first.Scheduler.GetAsync(run.Id))!.Status.Should().Be(RunStatus.Succeeded);

        static void Options(SchedulingOptions o, int pollMinutes)
        {
            o.PollInterval = TimeSpan.FromMinutes(pollMinutes);
            o.LeaseDuration = TimeSpan.FromSeconds(30);
        }
    }

    [TestCase(60)]
    [TestCase(600)]
    public async Task FakeClockSteppedPastTheLease_WhileItsHandlerRuns_NeverStartsTheRunAgain_NorReportsAJump(int stepSeconds)
    {
        // How users test: a fake clock moved in steps (a minute, ten minutes) past the 30-second lease, while a handler
        // waits on it; the library's default poll interval, look-ahead and lease.
        var logs = new CapturedLogs();
        await using var harness = new SchedulerHarness(
            s_start,
            [typeof(OneTimeWorkflows)],
            o =>
            {
                o.PollInterval = TimeSpan.FromSeconds(1);
                o.LookAhead = TimeSpan.FromSeconds(30);
            },
            services: s => s.AddSingleton<ILoggerProvider>(logs));
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync("slow", s_start.AddSeconds(5));
        for (int step = 0; step < 15 * 60 / stepSeconds + 1; step++)
        {
            harness.Time.Advance(TimeSpan.FromSeconds(stepSeconds));
            await harness.SettleAsync();
        }

        harness.Log.Of("slow").Should().ContainSingle("a lease that lapses while this process still runs the handler is renewed, not taken over")
            .Which.Attempt.Should().Be(1);
        (await harness.Scheduler.GetAsync(run.Id))!.Status.Should().Be(RunStatus.Succeeded);
        logs.Entries.Should().NotContain(e => e.Message.Contains("jump", StringComparison.OrdinalIgnoreCase), "a fake clock moved in steps is time passing, not a wall-clock jump");
    }

    [Test]
    public async Task ScheduleAsync_RunsAtItsTime_WithTypedInputAndContext()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var runAt = new DateTimeOffset(2026, 6, 1, 14, 30, 0, TimeSpan.FromHours(2)); // 12:30Z, given with an offset
        var run = await harness.Scheduler.ScheduleAsync("send-reminder", runAt, new Reminder(42, "hi"), new Dictionary<string, string> { ["customer"] = "a" });

        run.ScheduledTime.Should().Be(runAt).And.Subject!.Value.Offset.Should().Be(TimeSpan.Zero, "instants are stored and returned in UTC");
        run.Status.Should().Be(RunStatus.Pending);
        run.Input.Should().Be("""{"customerId":42,"text":"hi"}""");
        await harness.RunUntilAsync(s_start.AddHours(1));

        var invocation = harness.Log.Of("send-reminder").Should().ContainSingle().Subject;
        invocation.Input.Should().Be(new Reminder(42, "hi"));
        invocation.Started.Should().Be(runAt);
        invocation.Attempt.Should().Be(1);
        var stored = await harness.Scheduler.GetAsync(run.Id);
        stored!.Status.Should().Be(RunStatus.Succeeded);
        stored.StartedAt.Should().Be(runAt);
        stored.CompletedAt.Should().Be(runAt);
        stored.Metadata.Should().Contain("customer", "a");
    }

    [Test]
    public async Task StaticWorkflow_TakingScopedService_GetsANewScopePerRun()
    {
        await using var harness = new SchedulerHarness(s_start, [typeof(ScopedServiceWorkflows)], services: s => s.AddScoped<RunScopeProbe>());
        await harness.StartAsync();
        await harness.Scheduler.ScheduleAsync("takes-scoped-service", s_start.AddSeconds(1));
        await harness.Scheduler.ScheduleAsync("takes-scoped-service", s_start.AddSeconds(2));
        await harness.RunForAsync(TimeSpan.FromSeconds(5));
        harness.Log.Of("takes-scoped-service").Select(i => i.Input).Should().HaveCount(2).And.OnlyHaveUniqueItems();
    }

    [Test]
    public async Task ScheduleAsync_Typed_NamesWorkflowByMethod()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync<OneTimeWorkflows>(w => w.Send, s_start.AddMinutes(1), new Reminder(1, "x"));
        run.WorkflowName.Should().Be("send-reminder");
        var defaultName = await harness.Scheduler.ScheduleAsync<OneTimeWorkflows>(_ => OneTimeWorkflows.NoInput, s_start.AddMinutes(1));
        defaultName.WorkflowName.Should().Be("OneTimeWorkflows.NoInput", "the default name is Type.Method");
    }

    [Test]
    public async Task ScheduleAsync_WhenKeyExists_ReturnsExistingRun()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var first = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Reminder(1, "a"), idempotencyKey: "order-7");
        var second = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(2), new Reminder(2, "b"), idempotencyKey: "order-7");
        second.Should().Be(first);
        second.IdempotencyKey.Should().Be("send-reminder#order-7");

        var unkeyed1 = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Reminder(1, "a"));
        var unkeyed2 = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Reminder(2, "b"));
        unkeyed2.Id.Should().NotBe(unkeyed1.Id, "without a key every call is a new run");
    }

    [Test]
    public async Task ScheduleAsync_WhenWorkflowUnknown_ThrowsArgumentExceptionNamingIt()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        Func<Task> act = async () => await harness.Scheduler.ScheduleAsync("no-such-workflow", s_start).AsTask();
        (await act.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("no-such-workflow").And.Contain("send-reminder");
        Func<Task> emptyKey = async () => await harness.Scheduler.ScheduleAsync("send-reminder", s_start, new Reminder(1, "x"), idempotencyKey: "").AsTask();
        await emptyKey.Should().ThrowAsync<ArgumentException>().WithParameterName("idempotencyKey");
    }

    [Test]
    public async Task AnIdempotencyKeyLongerThanEveryStoreCanIndex_IsRefusedAtTheCall_AndNothingIsStored()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        await harness.Scheduler.Schedules.CreateAsync(new ScheduleDefinition { Id = "s", WorkflowName = "send-reminder", Input = new Reminder(1, "x"), Spec = ScheduleSpec.FromInterval("1h") });
        string longest = new('€', SchedulingLimits.MaxIdempotencyKeyLength);

        Func<Task> tooLong = async () => await harness.Scheduler.ScheduleAsync("send-reminder", s_start, new Reminder(1, "x"), idempotencyKey: longest + "€").AsTask();
        await tooLong.Should().ThrowAsync<ArgumentOutOfRangeException>().WithParameterName("idempotencyKey");
        Func<Task> inABatch = async () => await harness.Scheduler.ScheduleManyAsync([new RunRequest("send-reminder", s_start, new Reminder(2, "y")), new RunRequest("send-reminder", s_start, new Reminder(3, "z"), IdempotencyKey: longest + "x")]);
        await inABatch.Should().ThrowAsync<ArgumentOutOfRangeException>();
        Func<Task> trigger = async () => await harness.Scheduler.Schedules.TriggerAsync("s", idempotencyKey: longest + "€");
        await trigger.Should().ThrowAsync<ArgumentOutOfRangeException>().WithParameterName("idempotencyKey");
        (await harness.Scheduler.ListAsync(new RunQuery())).Items.Should().BeEmpty("nothing was stored");

        var run = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Reminder(1, "x"), idempotencyKey: longest);
        (await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(2), new Reminder(2, "y"), idempotencyKey: longest)).Id.Should().Be(run.Id);
        (await harness.Scheduler.Schedules.TriggerAsync("s", idempotencyKey: longest)).Kind.Should().Be(RunKind.Triggered);
    }

    [Test]
    public async Task ListAsync_FiltersByWorkflowStatusMetadataAndTime_AndPages()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        for (int i = 0; i < 25; i++)
        {
            await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1 + i), new Reminder(i, "r"), new Dictionary<string, string> { ["tenant"] = i % 2 == 0 ? "even" : "odd" });
        }

        await harness.Scheduler.ScheduleAsync("OneTimeWorkflows.NoInput", s_start.AddHours(3));
        var evens = await harness.Scheduler.ListAsync(new RunQuery { WorkflowName = "send-reminder", Metadata = new Dictionary<string, string> { ["tenant"] = "even" } });
        evens.Items.Should().HaveCount(13);
        var window = await harness.Scheduler.ListAsync(new RunQuery { ScheduledFrom = s_start.AddHours(3), ScheduledTo = s_start.AddHours(5) });
        window.Items.Should().HaveCount(3, "hours 3 and 4 of send-reminder plus NoInput at hour 3; the upper bound is exclusive");

        var seen = new List<Guid>();
        string? token = null;
        do
        {
            var page = await harness.Scheduler.ListAsync(new RunQuery { WorkflowName = "send-reminder", Statuses = [RunStatus.Pending], PageSize = 10, ContinuationToken = token });
            seen.AddRange(page.Items.Select(r => r.Id));
            token = page.ContinuationToken;
        }
        while (token is not null);
        seen.Should().HaveCount(25).And.OnlyHaveUniqueItems();
    }

    [Test]
    public async Task DeleteAndReschedule_OfPendingRun_TakeEffectBeforeItRuns()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var deleted = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(30), new Reminder(1, "deleted"));
        var moved = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(30), new Reminder(2, "moved"));
        (await harness.Scheduler.DeleteAsync(deleted.Id)).Should().BeTrue();
        (await harness.Scheduler.DeleteAsync(deleted.Id)).Should().BeFalse("it no longer exists");
        var rescheduled = await harness.Scheduler.RescheduleAsync(moved.Id, s_start.AddMinutes(5));
        rescheduled.ScheduledTime.Should().Be(s_start.AddMinutes(5));

        await harness.RunUntilAsync(s_start.AddMinutes(4));
        harness.Log.Invocations.Should().BeEmpty();
        await harness.RunUntilAsync(s_start.AddMinutes(6));
        harness.Log.Of("send-reminder").Should().ContainSingle().Which.Started.Should().Be(s_start.AddMinutes(5));
    }

    [Test]
    public async Task RescheduleAsync_AfterRunTriggered_IsRefusedWithClearError()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddSeconds(10), new Reminder(1, "x"));
        await harness.RunForAsync(TimeSpan.FromMinutes(1));

        var act = async () => await harness.Scheduler.RescheduleAsync(run.Id, s_start.AddHours(1));
        (await act.Should().ThrowAsync<ScheduledRunStateException>()).Which.Message.Should().Contain(run.Id.ToString()).And.Contain("Succeeded");
        var missingId = Guid.NewGuid();
        var missing = async () => await harness.Scheduler.RescheduleAsync(missingId, s_start.AddHours(1));
        var notFound = (await missing.Should().ThrowAsync<ScheduledRunNotFoundException>("a missing run is not a state error: 404, not 409")).Which;
        notFound.Message.Should().Contain("does not exist").And.Contain(missingId.ToString());
        notFound.RunIds.Should().Equal(missingId);
        notFound.Should().BeAssignableTo<KeyNotFoundException>();
    }

    [Test]
    public async Task DeleteAsync_OfRunningRun_IsRefused()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync("slow", s_start);
        await harness.RunForAsync(TimeSpan.FromSeconds(1));
        var act = async () => await harness.Scheduler.DeleteAsync(run.Id);
        (await act.Should().ThrowAsync<ScheduledRunStateException>()).Which.Message.Should().Contain("Running");
    }

    [Test]
    public async Task ScheduleMany_InSeveralBatches_ReturnsTheRunsInOrder_AndWhenOneBatchFails_ThrowsOnceAllSentHaveFinished()
    {
        var flaky = new FlakyStore(new InMemorySchedulingStore());
        await using var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o => o.BatchSize = 10, flaky);
        await harness.StartAsync();
        static RunRequest Request(int i) => new("send-reminder", s_start.AddMinutes(1), new Reminder(i, "bulk"), new Dictionary<string, string> { ["i"] = $"{i}" });
        static int Number(ScheduledRun r) => int.Parse(r.Metadata["i"], System.Globalization.CultureInfo.InvariantCulture);
        var runs = await harness.Scheduler.ScheduleManyAsync(Enumerable.Range(0, 35).Select(Request));
        runs.Select(Number).Should().Equal(Enumerable.Range(0, 35), "four batches, the runs in the order asked");

        // The second batch of the next call fails; the batches sent with it finish before the call throws.
        flaky.FailInsertsWhen = batch => batch.Any(r => Number(r) == 110);
        var failing = async () => await harness.Scheduler.ScheduleManyAsync(Enumerable.Range(100, 35).Select(Request));
        await failing.Should().ThrowAsync<IOException>();
        flaky.FailInsertsWhen = null;
        var stored = (await harness.Scheduler.ListAsync(new RunQuery { PageSize = 1000 })).Items.Select(Number).Where(i => i >= 100).Order().ToList();
        stored.Should().Equal(Enumerable.Range(100, 10).Concat(Enumerable.Range(120, 15)), "the batch that failed wrote nothing; the others are stored");

        await harness.RunUntilAsync(s_start.AddMinutes(2));
        harness.Log.Of("send-reminder").Select(i => ((Reminder)i.Input!).CustomerId).Order().Should().Equal(Enumerable.Range(0, 35).Concat(stored), "every run stored runs, once");
    }

    [Test]
    public async Task BulkOperations_ByIdsAndFilter()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var runs = await harness.Scheduler.ScheduleManyAsync(Enumerable.Range(0, 10).Select(i =>
            new RunRequest("send-reminder", s_start.AddHours(1), new Reminder(i, "bulk"), new Dictionary<string, string> { ["batch"] = i < 5 ? "a" : "b" })));
        runs.Should().HaveCount(10);

        (await harness.Scheduler.BulkDeleteAsync([runs[0].Id, runs[1].Id, Guid.NewGuid()])).Should().Be(2);
        (await harness.Scheduler.BulkDeleteAsync(new RunQuery { WorkflowName = "send-reminder", Statuses = [RunStatus.Pending], Metadata = new Dictionary<string, string> { ["batch"] = "b" } }))
            .Should().Be(5);

        var moved = await harness.Scheduler.BulkRescheduleAsync([new RunTimeChange(runs[2].Id, s_start.AddMinutes(1)), new RunTimeChange(runs[3].Id, s_start.AddMinutes(2))]);
        moved.Select(r => r.ScheduledTime).Should().Equal(s_start.AddMinutes(1), s_start.AddMinutes(2));

        var allOrNothing = async () => await harness.Scheduler.BulkRescheduleAsync([new RunTimeChange(runs[4].Id, s_start.AddMinutes(3)), new RunTimeChange(runs[9].Id, s_start.AddMinutes(3))]);
        await allOrNothing.Should().ThrowAsync<ScheduledRunNotFoundException>("run 9 was deleted");
        (await harness.Scheduler.GetAsync(runs[4].Id))!.ScheduledTime.Should().Be(s_start.AddHours(1), "nothing changed");

        await harness.RunUntilAsync(s_start.AddHours(2));
        harness.Log.Of("send-reminder").Select(i => ((Reminder)i.Input!).CustomerId).Should().Equal(2, 3, 4);
    }

    [Test]
    public async Task OneTimeRun_DueWhileProcessWasDown_RunsAtStartUp()
    {
        var store = new InMemorySchedulingStore();
        await using (var before = NewHarness(store))
        {
            await before.StartAsync();
            await before.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(1), new Reminder(1, "late"));
        }

        await using var after = NewHarness(store, s_start.AddHours(3));
        await after.StartAsync();
        var invocation = after.Log.Of("send-reminder").Should().ContainSingle().Subject;
        invocation.Scheduled.Should().Be(s_start.AddHours(1));
        invocation.Started.Should().Be(s_start.AddHours(3));
    }

    /// <summary>A started harness keeping ended runs an hour and purging ten at a time.</summary>
    private static async Task<SchedulerHarness> StartWithHourRetentionAsync()
    {
        var harness = new SchedulerHarness(s_start, [typeof(OneTimeWorkflows)], o =>
        {
            o.RunRetention = TimeSpan.FromHours(1);
            o.BatchSize = 10;
        });
        await harness.StartAsync();
        return harness;
    }

    private static async Task<int> SucceededCountAsync(SchedulerHarness harness) =>
        (await harness.Scheduler.ListAsync(new RunQuery { Statuses = [RunStatus.Succeeded], PageSize = 1000 })).Items.Count;

    [Test]
    public async Task EndedRuns_ArePurgedAfterRetention_ABatchAtATimeUntilCaughtUp()
    {
        await using var harness = await StartWithHourRetentionAsync();
        await harness.Scheduler.ScheduleManyAsync(Enumerable.Range(0, 35).Select(i => new RunRequest("send-reminder", s_start.AddSeconds(i), new Reminder(i, "x"))));
        await harness.Scheduler.ScheduleAsync("send-reminder", s_start.AddHours(2), new Reminder(99, "later"));
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        (await SucceededCountAsync(harness)).Should().Be(35);

        await harness.RunUntilAsync(s_start.AddMinutes(65));
        (await SucceededCountAsync(harness)).Should().Be(0, "35 ended runs, purged in batches of 10 once an hour old");
        (await harness.Scheduler.ListAsync(new RunQuery())).Items.Should().ContainSingle("the pending run is never purged");
    }

    [Test]
    public async Task EndedRuns_ManyBatchesAtOnce_ArePurgedSeveralBatchesPerFeed()
    {
        // Runs ending faster than a batch per poll interval: purging one batch per feed would fall behind for ever.
        await using var harness = await StartWithHourRetentionAsync();
        await harness.Scheduler.ScheduleManyAsync(Enumerable.Range(0, 300).Select(i => new RunRequest("send-reminder", s_start.AddMilliseconds(i), new Reminder(i, "x"))));
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        (await SucceededCountAsync(harness)).Should().Be(300);

        await harness.RunUntilAsync(s_start.AddMinutes(63).AddSeconds(30));
        (await SucceededCountAsync(harness)).Should().Be(0,
            "the first feed after the hour purges ten batches of ten, and so does each feed after it (one a minute here) while whole batches come back");
    }

    [Test]
    public async Task Restart_WithSameInstanceId_RunsWhatTheDeadInstanceHeld_WithoutWaitingForItsLease()
    {
        var store = new InMemorySchedulingStore();
        var held = OneTimeRunFor("send-reminder", s_start);
        var other = OneTimeRunFor("send-reminder", s_start);
        await store.InsertAsync([held, other], default);
        await store.ClaimAsync([held.Id], s_start, TimeSpan.FromMinutes(30), "node-a", default); // node-a died holding it
        await store.ClaimAsync([other.Id], s_start, TimeSpan.FromMinutes(30), "node-b", default); // node-b is alive

        await using var harness = new SchedulerHarness(s_start.AddMinutes(1), [typeof(OneTimeWorkflows)], o => o.InstanceId = "node-a", store: store);
        await harness.StartAsync();
        harness.Log.Of("send-reminder").Should().ContainSingle().Which.Should().Match<RunLog.Invocation>(i => i.RunId == held.Id && i.Attempt == 2 && i.Started == s_start.AddMinutes(1));
        (await store.GetAsync(other.Id, default))!.Status.Should().Be(RunStatus.Running, "another instance's lease is left alone");
    }

    [Test]
    public async Task Restart_WithoutAnInstanceId_RunsWhatADeadProcessOfThisMachineHeld_WithoutWaitingForItsLease()
    {
        // Scenario A2 on one node: the process crashed between claim and completion and was started again at once. Its
        // default id names it (machine, boot, process-id namespace, process id and start time), so the new process sees
        // that it is gone; a process that still runs, and an id of another machine, are left to their leases.
        var store = new InMemorySchedulingStore();
        var parts = Durable.Scheduling.Engine.Maintenance.LocalOwners.NewId(Guid.NewGuid()).Split('|');
        parts[5] = "999999999"; // no such process here: it ended
        string gone = string.Join('|', parts);
        string live = Durable.Scheduling.Engine.Maintenance.LocalOwners.NewId(Guid.NewGuid()); // this test's own process
        parts[1] = "another-machine";
        string elsewhere = string.Join('|', parts);
        var held = OneTimeRunFor("send-reminder", s_start);
        var alive = OneTimeRunFor("send-reminder", s_start);
        var remote = OneTimeRunFor("send-reminder", s_start);
        await store.InsertAsync([held, alive, remote], default);
        await store.ClaimAsync([held.Id], s_start, TimeSpan.FromSeconds(30), gone, default);
        await store.ClaimAsync([alive.Id], s_start, TimeSpan.FromSeconds(30), live, default);
        await store.ClaimAsync([remote.Id], s_start, TimeSpan.FromSeconds(30), elsewhere, default);

        await using var harness = new SchedulerHarness(s_start.AddSeconds(2), [typeof(OneTimeWorkflows)], store: store);
        await harness.StartAsync();
        harness.Log.Of("send-reminder").Should().ContainSingle().Which.Should().Match<RunLog.Invocation>(i => i.RunId == held.Id && i.Attempt == 2 && i.Started == s_start.AddSeconds(2));
        (await store.GetAsync(alive.Id, default))!.Status.Should().Be(RunStatus.Running, "its process still runs");
        (await store.GetAsync(remote.Id, default))!.Status.Should().Be(RunStatus.Running, "another machine's process is never judged here");

        await harness.RunUntilAsync(s_start.AddMinutes(2)); // their leases expire: taken over as usual
        harness.Log.Of("send-reminder").Should().HaveCount(3);
    }

    [Test]
    public async Task RunOfWorkflowNotDefinedHere_StaysPendingForAnInstanceThatDefinesIt()
    {
        var store = new InMemorySchedulingStore();
        var foreign = OneTimeRunFor("defined-elsewhere", s_start);
        await store.InsertAsync([foreign], default);
        await using (var harness = NewHarness(store))
        {
            await harness.StartAsync();
            await harness.RunForAsync(TimeSpan.FromMinutes(5));
            (await store.GetAsync(foreign.Id, default))!.Status.Should().Be(RunStatus.Pending, "this process cannot run it, so it does not claim it");
        }

        await using var other = new SchedulerHarness(s_start.AddMinutes(6), [typeof(ElsewhereWorkflows)], store: store);
        await other.StartAsync();
        other.Log.Of("defined-elsewhere").Should().ContainSingle().Which.Attempt.Should().Be(1);
    }

    private static ScheduledRun OneTimeRunFor(string workflow, DateTimeOffset at) =>
        TestRuns.OneTime(workflow, at, """{"customerId":1,"text":"held"}""");

    [Test]
    public async Task HandlerThrows_IsRetriedWithBackoff_ThenRecordedAsFailed()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync("always-fails", s_start);
        await harness.RunForAsync(TimeSpan.FromMinutes(5));

        harness.Log.Of("always-fails").Select(i => (i.Attempt, i.Started - s_start)).Should().Equal(
            (1, TimeSpan.Zero), (2, TimeSpan.FromSeconds(10)), (3, TimeSpan.FromSeconds(30)));
        var stored = await harness.Scheduler.GetAsync(run.Id);
        stored!.Status.Should().Be(RunStatus.Failed);
        stored.Attempt.Should().Be(3);
        stored.Error.Should().Be(new RunError("System.InvalidOperationException", "boom 3"));
    }

    [Test]
    public async Task HandlerThrowsOnce_SucceedsOnRetry()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync("fails-once", s_start);
        await harness.RunForAsync(TimeSpan.FromMinutes(1));
        (await harness.Scheduler.GetAsync(run.Id))!.Status.Should().Be(RunStatus.Succeeded);
        harness.Log.Of("fails-once").Should().HaveCount(2);
    }

    [Test]
    public async Task HandlerHangs_TimeoutCancelsItsToken_AndFailsTheRun()
    {
        await using var harness = NewHarness();
        await harness.StartAsync();
        var run = await harness.Scheduler.ScheduleAsync("hangs", s_start);
        await harness.RunForAsync(TimeSpan.FromSeconds(6));
        var stored = await harness.Scheduler.GetAsync(run.Id);
        stored!.Status.Should().Be(RunStatus.Failed);
        stored.Error!.Type.Should().Be("System.TimeoutException");
        stored.CompletedAt.Should().Be(s_start.AddSeconds(5));
    }

    [Test]
    public async Task Shutdown_ReleasesInterruptedRun_AndStartsNoNewRun_ThenRestartRunsIt()
    {
        var store = new InMemorySchedulingStore();
        Guid slowId;
        await using (var before = NewHarness(store))
        {
            await before.StartAsync();
            slowId = (await before.Scheduler.ScheduleAsync("slow", s_start)).Id;
            await before.Scheduler.ScheduleAsync("send-reminder", s_start.AddMinutes(1), new Reminder(1, "after stop"));
            await before.RunForAsync(TimeSpan.FromSeconds(30));
            (await before.Scheduler.GetAsync(slowId))!.Status.Should().Be(RunStatus.Running);
            await before.StopAsync();
            (await store.GetAsync(slowId, default))!.Status.Should().Be(RunStatus.Pending, "an interrupted run is released for a later retry");
            before.Time.SetUtcNow(s_start.AddMinutes(2));
            before.Log.Of("send-reminder").Should().BeEmpty("no run starts after stop began");
        }

        await using var after = NewHarness(store, s_start.AddMinutes(3));
        await after.StartAsync();
        after.Log.Of("slow").Should().ContainSingle().Which.Attempt.Should().Be(2);
        after.Log.Of("send-reminder").Should().ContainSingle();
    }
}
