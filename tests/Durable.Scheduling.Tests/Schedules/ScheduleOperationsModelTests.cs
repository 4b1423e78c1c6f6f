using Durable.Scheduling.Sqlite;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Storage.InMemory;
using Durable.Scheduling.Tests.Sqlite;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using FluentAssertions.Execution;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Schedules;

/// <summary>
/// Random sequences of schedule operations (create, update, pause, resume, trigger, backfill, delete, create again, and
/// restarts of the process on the same store; in memory, on SQLite and, in <c>PostgreSqlScheduleModelTests</c>, on
/// PostgreSQL) between fire times, checked
/// against what the README promises for each: every fire time of a schedule's spec between its creation (or update) and its next update (or delete) runs exactly
/// once, at its instant; those that fell while it was paused are decided at the resume by its catch-up policy (each
/// once, the latest <see cref="SchedulingOptions.MaxCatchUpRuns"/>; the last; or none), the others counted missed, and
/// never run while paused; nothing starts after a delete or while a pause that never ended holds; a trigger runs once, at
/// once; a backfill returns one run per fire time, running only those never run; the counters count what ran. Also on
/// two and three instances sharing a store, changes made on any, with what the README allows another instance (it follows an
/// update within a poll), and with the instances' clocks moving in turn, a step at a time. And with store faults: after
/// an operation, now and then one call of one instance's store fails (an insert, a watermark advance or a skip), so its
/// pass fails and is retried a poll later.
/// </summary>
[TestFixture]
public sealed class ScheduleOperationsModelTests
{
    private const int MaxCatchUpRuns = 100; // the default

    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan LookAhead = TimeSpan.FromMinutes(2); // the harness's

    private static readonly DateTimeOffset s_start = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly CatchUpPolicy[] s_catchUps =
        [CatchUpPolicy.ExactlyOncePerInterval, CatchUpPolicy.ExactlyOncePerInterval, CatchUpPolicy.Latest, CatchUpPolicy.ExactlyOncePerIntervalWhenActive];

    private static readonly Func<ScheduleSpec>[] s_specs =
    [
        () => ScheduleSpec.FromCron("*/30 * * * * *"),
        () => ScheduleSpec.FromCron("0 */2 * * * *"),
        () => new ScheduleSpec { Intervals = [ScheduleInterval.Parse("90s")] },
        () => new ScheduleSpec { Intervals = [ScheduleInterval.Parse("3m/20s")] },
        () => new ScheduleSpec { Calendars = [new ScheduleCalendar { Minute = "*/5", Second = "15" }], TimeZone = "America/New_York" },
        () => new ScheduleSpec { Cron = ["0 * * * * *"], Skip = [new ScheduleCalendar { Minute = "*/4" }] },
        () => new ScheduleSpec { Cron = ["45 */3 * * * *"], Intervals = [ScheduleInterval.Parse("2m")] },
    ];

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(113)]
    [TestCase(127)]
    [TestCase(167)]
    [TestCase(173)]
    public Task InMemory_RandomOperations_RunWhatTheModelSays(int seed)
    {
        var store = new InMemorySchedulingStore(); // kept across restarts, as a database would be
        return RunAsync(seed, () => store);
    }

    [TestCase(21)]
    [TestCase(22)]
    [TestCase(506)]
    [TestCase(543)] // a resume on one instance that dropped fire times beyond MaxCatchUpRuns, counted missed there only
    [TestCase(700)] // occurrences created ahead that fell in a pause, skipped at the resume (when active): counted once
    [TestCase(704)] // the same under Latest
    public Task InMemory_TwoInstancesSharingAStore_RandomOperations_RunWhatTheModelSays(int seed)
    {
        var store = new InMemorySchedulingStore();
        return RunAsync(seed, () => store, instances: 2);
    }

    [TestCase(6003)]
    [TestCase(6037)] // occurrences a resume skipped, its pass failing after: counted missed all the same
    [TestCase(6039)]
    [TestCase(6088)]
    [TestCase(6118)]
    [TestCase(11062)] // a resume's catch-up failing at the end: its count not stored yet
    [TestCase(11068)] // two failures in a row: a back-off of two polls
    [TestCase(50083)] // two failures in a row: a fire time in the back-off fell due while nothing ran, and the policy dropped it
    [TestCase(79797)] // a resume's catch-up failing, the spec changed before the retry: the pause is the old spec's
    [TestCase(50393)] // planned once, its watermark write failed, paused, restarted, resumed: the whole pause is caught up
    public Task InMemory_WithStoreFaults_RandomOperations_RunWhatTheModelSays(int seed)
    {
        var store = new InMemorySchedulingStore();
        return RunAsync(seed, () => store, faults: true);
    }

    [TestCase(7030)]
    [TestCase(7171)]
    [TestCase(74390)] // deleted while paused, made again on the other instance before it read the delete: a new schedule
    [TestCase(74454)] // resumed on one instance, its spec changed on the other before it read the resume: the pause decided once
    public Task InMemory_TwoInstancesWithStoreFaults_RandomOperations_RunWhatTheModelSays(int seed)
    {
        var store = new InMemorySchedulingStore();
        return RunAsync(seed, () => store, instances: 2, faults: true);
    }

    [TestCase(3065)] // a limited schedule that made all its runs, resumed after them: its policy decides about them
    public Task InMemory_ThreeInstancesSharingAStore_RandomOperations_RunWhatTheModelSays(int seed)
    {
        var store = new InMemorySchedulingStore();
        return RunAsync(seed, () => store, instances: 3);
    }

    [TestCase(113)]
    [TestCase(167)]
    [Category("Slow")]
    public async Task Sqlite_RandomOperations_RunWhatTheModelSays(int seed)
    {
        string file = SqliteTestFiles.NewFile("model");
        try
        {
            await RunAsync(seed, () => new SqliteSchedulingStore(new SqliteSchedulingOptions { ConnectionString = $"Data Source={file}" }));
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            SqliteTestFiles.Delete(file);
        }
    }

    /// <summary>Runs seed <paramref name="seed"/>'s operations on <paramref name="instances"/> processes sharing the stores <paramref name="openStore"/> opens, and checks the model.</summary>
    internal static async Task RunAsync(int seed, Func<ISchedulingStore> openStore, int instances = 1, bool faults = false)
    {
        var random = new Random(seed);
        var host = new Host { Faults = faults ? new Random(~seed) : null };
        if (faults)
        {
            var open = openStore;
            openStore = () => new FlakyStore(open());
        }

        try
        {
            for (int i = 0; i < instances; i++)
            {
                host.Instances.Add(await StartAsync(s_start, openStore(), host));
            }

            await RunAsync(seed, random, openStore, host);
        }
        finally
        {
            foreach (var instance in host.Instances)
            {
                await instance.DisposeAsync();
            }
        }
    }

    /// <summary>The processes now running on the store, and what the ones stopped before them ran.</summary>
    private sealed class Host
    {
        /// <summary>Draws the store faults injected after each operation (one failing call at a time); null: none.</summary>
        public Random? Faults { get; init; }

        /// <summary>The stores of the instances now running.</summary>
        public IEnumerable<FlakyStore> Flaky => Instances.Select(i => i.Store).OfType<FlakyStore>();

        /// <summary>How late an occurrence may start: a pass that failed is retried a poll later (two polls after a second failure in a row).</summary>
        public TimeSpan Slack => Faults is null ? TimeSpan.Zero : 4 * PollInterval;

        public List<SchedulerHarness> Instances { get; } = [];

        public List<RunLog.Invocation> Earlier { get; } = [];

        /// <summary>When a process restarted.</summary>
        public List<DateTimeOffset> Restarts { get; } = [];

        /// <summary>
        /// When a scheduler's passes stopped for longer than two polls: it backed off after failing passes in a row. Its
        /// fire times then fell due while nothing ran them (README, "Catch-up"), so its policy may drop them.
        /// </summary>
        public List<(DateTimeOffset From, DateTimeOffset To)> Outages { get; } = [];

        public List<RunLog.Invocation> Runs() => [.. Earlier.Concat(Instances.SelectMany(i => i.Log.Invocations))];

        /// <summary>How far one instance's clock moves before the next one's (side by side).</summary>
        public static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

        /// <summary>Moves every instance to <paramref name="at"/>, side by side.</summary>
        public Task RunUntilAsync(DateTimeOffset at) => SchedulerHarness.RunTogetherUntilAsync(at, Step, [.. Instances]);
    }

    private static async Task<SchedulerHarness> StartAsync(DateTimeOffset at, ISchedulingStore store, Host host)
    {
        SchedulerHarness? started = null;
        var harness = new SchedulerHarness(at, [typeof(ScheduleWorkflows)], o => o.PollInterval = PollInterval, store, services: s => s.AddLogging(
            b => b.AddProvider(new BackOffRecorder(() => started!.Time.GetUtcNow(), host.Outages))));
        started = harness;
        await harness.StartAsync();
        return harness;
    }

    private static async Task RunAsync(int seed, Random random, Func<ISchedulingStore> openStore, Host host)
    {
        bool fleet = host.Instances.Count > 1;
        var harness = host.Instances[0];
        var lives = new List<Life>();
        var current = new Dictionary<string, Life>();
        var backfills = new List<Backfill>();
        var end = s_start.AddHours(2).AddMilliseconds(500);
        var now = s_start;
        while (true)
        {
            // Operations fall half a second past a whole second, fire times on whole seconds: no ties to judge.
            now = now.AddSeconds(random.Next(5, 400)).AddMilliseconds(500 - (now.Millisecond % 1000));
            if (now >= end)
            {
                break;
            }

            await host.RunUntilAsync(now);
            int which = random.Next(host.Instances.Count);
            if (random.Next(12) == 0)
            {
                // A process restarts on the same store, at once (no fire time falls while it is down).
                await host.Instances[which].StopAsync();
                host.Earlier.AddRange(host.Instances[which].Log.Invocations);
                host.Restarts.Add(now);
                await host.Instances[which].DisposeAsync();
                host.Instances[which] = await StartAsync(now, openStore(), host);
            }

            foreach (var flaky in host.Flaky)
            {
                (flaky.FailInserts, flaky.FailWatermarks, flaky.FailSkips) = (0, 0, 0); // the operation itself does not fail
            }

            var on = host.Instances[which].Scheduler.Schedules; // a change made on any instance

            string id = "s" + random.Next(4);
            current.TryGetValue(id, out var life);
            switch (random.Next(10))
            {
                case 0 or 1 when life is null:
                case 8 or 9 when life is null:
                    var spec = s_specs[random.Next(s_specs.Length)]();
                    var catchUp = s_catchUps[random.Next(s_catchUps.Length)];
                    long? maxRuns = random.Next(4) == 0 ? random.Next(1, 40) : null;
                    await on.CreateAsync(new ScheduleDefinition { Id = id, WorkflowName = "tick", Spec = spec, CatchUp = catchUp, MaxRuns = maxRuns });
                    life = new Life(id, now, spec, catchUp) { MaxRuns = maxRuns };
                    lives.Add(life);
                    current[id] = life;
                    break;
                case 2 or 3 when life is { PausedAt: null }:
                    await on.PauseAsync(id, "note " + now.ToString("O"));
                    life.PausedAt = now;
                    break;
                case 4 when life is { PausedAt: { } pausedAt }:
                    await on.ResumeAsync(id);
                    life.Pauses.Add((pausedAt, now));
                    life.PausedAt = null;
                    break;
                case 5 when life is { PausedAt: null }:
                    var changed = s_specs[random.Next(s_specs.Length)]();
                    await on.UpdateAsync(id, d => d with { Spec = changed });
                    life.Segments[^1] = life.Segments[^1] with { Until = now };
                    life.Segments.Add(new Segment(now, DateTimeOffset.MaxValue, changed));
                    break;
                case 6 when life is not null:
                    var triggered = await on.TriggerAsync(id);
                    life.Triggers.Add((triggered.Id, now));
                    break;
                case 7 when life is not null && random.Next(2) == 0:
                    // A range before this schedule was made: fire times an earlier schedule of its id ran come back as
                    // those runs; the others run now, once.
                    var to = (life.Created < now ? life.Created : now).AddSeconds(-random.Next(0, 900));
                    var from = to.AddSeconds(-random.Next(30, 1800));
                    var currentSpec = life.Segments[^1].Spec;
                    var fireTimes = on.Preview(currentSpec, 1000, from.AddTicks(-1)).Select(f => f.Instant).TakeWhile(t => t < to).ToList();
                    var ids = await on.BackfillAsync(id, from, to);
                    backfills.Add(new Backfill(id, now, fireTimes, ids));
                    break;
                case 7 when life is not null:
                    await on.DeleteAsync(id);
                    life.End(now, deleted: true);
                    current.Remove(id);
                    break;
            }

            if (host.Faults is { } faults && faults.Next(3) == 0)
            {
                // One call of one instance's store fails: its pass is retried at the next poll.
                var flaky = (FlakyStore)host.Instances[faults.Next(host.Instances.Count)].Store;
                switch (faults.Next(3))
                {
                    case 0: flaky.FailInserts = 1; break;
                    case 1: flaky.FailWatermarks = 1; break;
                    default: flaky.FailSkips = 1; break;
                }
            }

            await host.Instances[which].SettleAsync(); // what the change started there, before any clock moves on
        }

        await host.RunUntilAsync(end);
        var schedules = host.Instances[0].Scheduler.Schedules;
        foreach (var life in current.Values)
        {
            life.End(end, deleted: false);
        }

        using (new AssertionScope($"seed {seed}"))
        {
            var runs = host.Runs();
            runs.Where(r => r.ScheduleId is not null).Select(r => r.Key).Should().OnlyHaveUniqueItems("a schedule's run keys are unique");
            foreach (var backfill in backfills)
            {
                backfill.Ids.Should().HaveCount(backfill.FireTimes.Count, $"{backfill}: a run id for each fire time in the range");
                foreach (var (at, runId) in backfill.FireTimes.Zip(backfill.Ids))
                {
                    var ran = runs.Where(r => r.ScheduleId == backfill.Id && r.Scheduled == at && r.Kind is RunKind.Occurrence or RunKind.Backfill).ToList();
                    ran.Select(r => r.RunId).Should().Equal([runId], $"{backfill}: {at:HH:mm:ss} ran once, as the run returned");
                    if (ran is [{ Kind: RunKind.Backfill } filled])
                    {
                        backfills.Where(b => b.Id == backfill.Id && b.FireTimes.Contains(at)).Select(b => b.At).Should().Contain(
                            filled.Started, $"{backfill}: {at:HH:mm:ss} ran at once, when the first backfill over it was made");
                    }
                }
            }

            foreach (var life in lives)
            {
                var mine = runs.Where(r => r.ScheduleId == life.Id && r.Started >= life.Created && r.Started <= life.Ended).ToList();
                var occurrences = mine.Where(r => r.Kind == RunKind.Occurrence).ToList();
                var expected = life.Expected(schedules);
                var all = life.Segments.SelectMany(s => schedules.Preview(s.Spec, 1000, s.From).Select(f => f.Instant).TakeWhile(t => t <= s.Until)).ToList();

                // With store faults: a failed pass is retried a poll later, and the loop holds its runs meanwhile, so a
                // fire time just before a pause, delete, restart or the test's end may start after it (held by the pause:
                // its policy decides at the resume; a restart finds it missed; after a delete or the end: never). Only
                // those are left out of the exact checks.
                var held = life.JustBeforeAHold(all, host.Slack, host.Restarts);
                held.UnionWith(all.Where(t => host.Outages.Any(o => t > o.From && t <= o.To + host.Slack)));
                occurrences.Select(r => r.Scheduled).Should().OnlyHaveUniqueItems($"{life} runs a fire time once");
                bool exact = true;
                if (life.MaxRuns is { } limit)
                {
                    // Occurrences made count against the limit when made, run or not; what the limit leaves is the
                    // first of them when none was made and then dropped by a catch-up policy.
                    occurrences.Should().HaveCountLessThanOrEqualTo((int)limit, $"{life} runs at most its {limit} runs");
                    if (!fleet && !life.Dropped(all).Any())
                    {
                        expected = [.. expected.Order().Take((int)limit)];
                    }
                    else
                    {
                        // The catch-up policy decides among the occurrences made (within the limit), which the model
                        // does not know: any fire time of a pause may be the one kept.
                        var inPauses = all.Where(t => life.Pauses.Any(p => t > p.From && t <= p.To));
                        occurrences.Select(r => r.Scheduled).Should().OnlyHaveUniqueItems().And.BeSubsetOf(
                            (fleet ? expected.Concat(life.Lingering(schedules)) : expected).Concat(inPauses).Concat(held), $"{life} runs only its specs' fire times");
                        exact = false;
                    }
                }

                expected = [.. expected.Except(held)];
                occurrences = [.. occurrences.Where(r => !held.Contains(r.Scheduled))];
                if (exact && fleet)
                {
                    // Another instance follows an update at its next poll: it may still create the old spec's fire
                    // times up to a look-ahead past the update (README, "Update").
                    var lingering = life.Lingering(schedules);
                    occurrences.Select(r => r.Scheduled).Should().OnlyHaveUniqueItems($"{life} runs a fire time once");
                    occurrences.Select(r => r.Scheduled).Except(expected).Should().BeSubsetOf(lingering, $"{life} runs only its specs' fire times");
                    expected.Except(occurrences.Select(r => r.Scheduled)).Should().BeEmpty($"{life} runs each fire time of its specs");
                }
                else if (exact)
                {
                    occurrences.Select(r => r.Scheduled).Should().BeEquivalentTo(expected, $"{life} runs each fire time of its specs once");
                }

                foreach (var run in occurrences)
                {
                    var pause = life.Pauses.FirstOrDefault(p => run.Scheduled > p.From && run.Scheduled <= p.To);
                    if (pause == default && fleet)
                    {
                        // The instances' clocks move in turn, a step at a time: one that has not reached an instant yet
                        // has not run its occurrence, and the other, a step ahead, may find it due at one of its polls.
                        run.Started.Should().BeOnOrAfter(run.Scheduled).And.BeOnOrBefore(run.Scheduled + Host.Step + host.Slack, $"{life}: the occurrence of {run.Scheduled:O} starts at its instant (within the test's step)");
                    }
                    else if (pause == default)
                    {
                        run.Started.Should().BeOnOrAfter(run.Scheduled).And.BeOnOrBefore(run.Scheduled + host.Slack, $"{life}: the occurrence of {run.Scheduled:O} starts at its instant");
                    }
                    else if (fleet)
                    {
                        // Whichever instance claims it first: the one that resumed, at once, or another at its next poll.
                        run.Started.Should().BeOnOrAfter(pause.To).And.BeOnOrBefore(pause.To + PollInterval + Host.Step + host.Slack, $"{life}: the occurrence of {run.Scheduled:O} fell in a pause");
                    }
                    else
                    {
                        run.Started.Should().BeOnOrAfter(pause.To).And.BeOnOrBefore(pause.To + host.Slack, $"{life}: the occurrence of {run.Scheduled:O} fell in a pause: it starts at the resume");
                    }
                }

                mine.Where(r => r.Kind == RunKind.Occurrence && (life.Pauses.Any(p => r.Started > p.From && r.Started < p.To) || (life.PausedAt is { } held && r.Started > held)))
                    .Should().BeEmpty($"{life}: no occurrence starts while it is paused (triggers do)");
                mine.Where(r => r.Kind == RunKind.Triggered).Select(r => (r.RunId, r.Started)).Should().BeEquivalentTo(life.Triggers, $"{life}: each trigger runs once, at once");
                if (life.Deleted)
                {
                    runs.Where(r => r.ScheduleId == life.Id && r.Started > life.Ended && !lives.Any(l => l != life && l.Id == life.Id && r.Started >= l.Created))
                        .Should().BeEmpty($"{life}: nothing starts after its delete");
                }
                else
                {
                    var counters = (await schedules.DescribeAsync(life.Id)).Counters;
                    counters.Runs.Should().Be(mine.Count, $"{life}: Runs counts every run started");
                    counters.Succeeded.Should().Be(mine.Count, $"{life}: each succeeded");
                    counters.Failed.Should().Be(0);
                    if (life.MaxRuns is null)
                    {
                        // (Under faults, one held near the end may not be counted yet, and one held by a pause may be.)
                        var dropped = life.Dropped(all).ToList();
                        counters.Missed.Should().BeInRange(dropped.Except(held).Count(), dropped.Count + held.Count, $"{life}: Missed counts the fire times a resume dropped");
                    }
                    else
                    {
                        // Fire times past the limit are not occurrences at all, so not missed either.
                        counters.Missed.Should().BeLessThanOrEqualTo(life.Dropped(all).Count() + held.Count, $"{life}: Missed counts the fire times a resume dropped, within its limit");
                    }
                }
            }
        }
    }

    /// <summary>
    /// Notes the loop's back-offs of two polls or more (a second failing pass in a row, or later): the last pass that
    /// succeeded came before the first failure, up to a poll before it.
    /// </summary>
    private sealed class BackOffRecorder(Func<DateTimeOffset> now, List<(DateTimeOffset From, DateTimeOffset To)> outages) : ILoggerProvider, ILogger
    {
        private const int LoopError = 9; // Log.LoopError's event id

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == LoopError && state is IReadOnlyList<KeyValuePair<string, object?>> values &&
                values.FirstOrDefault(v => v.Key == "Delay").Value is TimeSpan delay && delay >= 2 * PollInterval)
            {
                var at = now();
                lock (outages)
                {
                    outages.Add((at - delay - (2 * PollInterval), at + delay));
                }
            }
        }

        public void Dispose()
        {
        }
    }

    private sealed record Backfill(string Id, DateTimeOffset At, List<DateTimeOffset> FireTimes, IReadOnlyList<Guid> Ids)
    {
        public override string ToString() => $"backfill of {Id} at {At:HH:mm:ss.f} over {(FireTimes.Count == 0 ? "nothing" : $"{FireTimes[0]:HH:mm:ss}..{FireTimes[^1]:HH:mm:ss}")}";
    }

    private sealed record Segment(DateTimeOffset From, DateTimeOffset Until, ScheduleSpec Spec);

    /// <summary>One schedule from its creation to its delete (or the end): its specs by time, pauses and triggers.</summary>
    private sealed class Life(string id, DateTimeOffset created, ScheduleSpec spec, CatchUpPolicy catchUp)
    {
        public CatchUpPolicy CatchUp { get; } = catchUp;

        public long? MaxRuns { get; init; }

        /// <summary>The old spec's fire times another instance may still make after an update, up to a look-ahead past it.</summary>
        public IEnumerable<DateTimeOffset> Lingering(ISchedules schedules) =>
            Segments.Skip(1).SelectMany(s => Segments[Segments.IndexOf(s) - 1] is var old
                ? schedules.Preview(old.Spec, 100, s.From).Select(f => f.Instant).TakeWhile(t => t <= s.From + LookAhead && t <= Ended) : []);

        public string Id { get; } = id;

        public DateTimeOffset Created { get; } = created;

        public DateTimeOffset Ended { get; private set; } = DateTimeOffset.MaxValue;

        public bool Deleted { get; private set; }

        public List<Segment> Segments { get; } = [new Segment(created, DateTimeOffset.MaxValue, spec)];

        public List<(DateTimeOffset From, DateTimeOffset To)> Pauses { get; } = [];

        public DateTimeOffset? PausedAt { get; set; }

        public List<(Guid Id, DateTimeOffset At)> Triggers { get; } = [];

        public void End(DateTimeOffset at, bool deleted)
        {
            Deleted = deleted;
            Ended = at;
            Segments[^1] = Segments[^1] with { Until = at };
        }

        /// <summary>
        /// Each spec's fire times after its start, up to its end, but for those under a pause that never ended, and those
        /// under a pause that its catch-up policy drops at the resume.
        /// </summary>
        public List<DateTimeOffset> Expected(ISchedules schedules)
        {
            var all = Segments.SelectMany(s => schedules.Preview(s.Spec, 1000, s.From).Select(f => f.Instant).TakeWhile(t => t <= s.Until))
                .Where(t => PausedAt is not { } held || t <= held).ToList();
            return [.. all.Except(Dropped(all))];
        }

        /// <summary>
        /// Fire times whose run is due (at the instant, or at the resume of a pause it fell in) within
        /// <paramref name="slack"/> before a pause, the delete, the end or a restart (none when it is zero; a restart
        /// finds what fell due before it missed).
        /// </summary>
        public HashSet<DateTimeOffset> JustBeforeAHold(List<DateTimeOffset> all, TimeSpan slack, List<DateTimeOffset> restarts)
        {
            var holds = Pauses.Select(p => p.From).Concat(PausedAt is { } at ? [at] : []).Append(Ended).Concat(restarts).ToList();
            return [.. all.Where(t =>
            {
                var due = Pauses.Where(p => t > p.From && t <= p.To).Select(p => p.To).DefaultIfEmpty(t).First();
                return holds.Any(h => h > due && h <= due + slack);
            })];
        }

        /// <summary>The fire times a resume does not catch up, by the catch-up policy.</summary>
        public IEnumerable<DateTimeOffset> Dropped(List<DateTimeOffset> all) =>
            Pauses.SelectMany(p =>
            {
                var missed = all.Where(t => t > p.From && t <= p.To).ToList();
                return missed.Take(CatchUp switch
                {
                    CatchUpPolicy.ExactlyOncePerInterval => Math.Max(0, missed.Count - MaxCatchUpRuns),
                    CatchUpPolicy.Latest => Math.Max(0, missed.Count - 1),
                    _ => missed.Count, // ExactlyOncePerIntervalWhenActive: none of them
                });
            });

        public override string ToString() => $"schedule {Id} ({CatchUp}{(MaxRuns is { } m ? $", {m} runs" : "")}) created {Created:HH:mm:ss.f}";
    }
}
