using BenchmarkDotNet.Attributes;
using NCrontab;
using QuartzCron = Quartz.CronExpression;

namespace Durable.Scheduling.Benchmarks;

/// <summary>
/// Cron parse and next occurrence. Our cron engine is Cronos: "Durable" parses through this library's thin layer
/// (<see cref="CronSchedule.Validate"/>: field count, full names, errors) and evaluates with Cronos itself, as the
/// scheduler does; beside NCrontab.Signed 3.3.2 and Quartz 4.7.3's CronExpression (Quartz syntax, the same schedules).
/// "Fixed" starts from one instant; "Varying" walks 1,024 start instants spread over a year.
/// </summary>
[MemoryDiagnoser]
public class CronBenchmarks
{
    private const int Starts = 1024;
    private static readonly TimeZoneInfo s_newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
    private readonly DateTime[] _starts = new DateTime[Starts];
    private readonly DateTimeOffset[] _startOffsets = new DateTimeOffset[Starts];
    private Cronos.CronExpression _ours = null!;
    private CrontabSchedule? _ncrontab;
    private QuartzCron _quartzUtc = null!;
    private QuartzCron _quartzNewYork = null!;
    private DateTime _fixed;

    /// <summary>The four schedules of the targets: (ours, Quartz syntax, NCrontab or null when it cannot express it).</summary>
    [Params("*/30 * * * * *", "0 9 * * MON-FRI", "0 0 L * *", "15 10 ? * 6#3")]
    public string Expression { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _ours = Cronos.CronExpression.Parse(Expression, Expression.Split(' ').Length == 6 ? Cronos.CronFormat.IncludeSeconds : Cronos.CronFormat.Standard);
        (string quartz, string? ncrontab) = Expression switch
        {
            "*/30 * * * * *" => ("0/30 * * * * ?", "*/30 * * * * *"),
            "0 9 * * MON-FRI" => ("0 0 9 ? * MON-FRI", "0 9 * * MON-FRI"),
            "0 0 L * *" => ("0 0 0 L * ?", null),
            _ => ("0 15 10 ? * 7#3", null), // Quartz numbers Sunday 1, so Saturday is 7
        };
        _ncrontab = ncrontab is null ? null : CrontabSchedule.Parse(ncrontab, new CrontabSchedule.ParseOptions { IncludingSeconds = ncrontab.Split(' ').Length == 6 });
        _quartzUtc = new QuartzCron(quartz, TimeZoneInfo.Utc);
        _quartzNewYork = new QuartzCron(quartz, s_newYork);
        _fixed = new DateTime(2026, 6, 15, 10, 17, 3, DateTimeKind.Utc);
        var random = new Random(7);
        for (int i = 0; i < Starts; i++)
        {
            _starts[i] = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(random.Next(365 * 86400));
            _startOffsets[i] = new DateTimeOffset(_starts[i]);
        }

        // Warm the zone caches for the whole range, as a running scheduler would be.
        foreach (var start in _starts)
        {
            _ours.GetNextOccurrence(start, s_newYork);
        }
    }

    [Benchmark(Description = "Parse: Durable (layer + Cronos)")]
    public void ParseOurs() => CronSchedule.Validate(Expression);

    [Benchmark(Description = "Parse: Quartz")]
    public QuartzCron ParseQuartz() => new(_quartzUtc.CronExpressionString);

    [Benchmark(Description = "Parse: NCrontab")]
    public CrontabSchedule? ParseNCrontab() =>
        _ncrontab is null ? null : CrontabSchedule.Parse(_ncrontab.ToString(), new CrontabSchedule.ParseOptions { IncludingSeconds = Expression.Split(' ').Length == 6 });

    [Benchmark(Description = "Next UTC fixed: Durable (Cronos)")]
    public DateTime? NextUtcFixedOurs() => _ours.GetNextOccurrence(_fixed, TimeZoneInfo.Utc);

    [Benchmark(Description = "Next UTC fixed: Quartz")]
    public DateTimeOffset? NextUtcFixedQuartz() => _quartzUtc.GetNextValidTimeAfter(_fixed);

    [Benchmark(Description = "Next UTC fixed: NCrontab")]
    public DateTime? NextUtcFixedNCrontab() => _ncrontab?.GetNextOccurrence(_fixed);

    [Benchmark(Description = "Next NY fixed: Durable (Cronos)")]
    public DateTime? NextNewYorkFixedOurs() => _ours.GetNextOccurrence(_fixed, s_newYork);

    [Benchmark(Description = "Next NY fixed: Quartz")]
    public DateTimeOffset? NextNewYorkFixedQuartz() => _quartzNewYork.GetNextValidTimeAfter(_fixed);

    [Benchmark(Description = "Next UTC varying: Durable (Cronos)", OperationsPerInvoke = Starts)]
    public DateTime? NextUtcVaryingOurs()
    {
        DateTime? last = null;
        foreach (var start in _starts)
        {
            last = _ours.GetNextOccurrence(start, TimeZoneInfo.Utc);
        }

        return last;
    }

    [Benchmark(Description = "Next UTC varying: Quartz", OperationsPerInvoke = Starts)]
    public DateTimeOffset? NextUtcVaryingQuartz()
    {
        DateTimeOffset? last = null;
        foreach (var start in _startOffsets)
        {
            last = _quartzUtc.GetNextValidTimeAfter(start);
        }

        return last;
    }

    [Benchmark(Description = "Next NY varying: Durable (Cronos)", OperationsPerInvoke = Starts)]
    public DateTime? NextNewYorkVaryingOurs()
    {
        DateTime? last = null;
        foreach (var start in _starts)
        {
            last = _ours.GetNextOccurrence(start, s_newYork);
        }

        return last;
    }

    [Benchmark(Description = "Next NY varying: Quartz", OperationsPerInvoke = Starts)]
    public DateTimeOffset? NextNewYorkVaryingQuartz()
    {
        DateTimeOffset? last = null;
        foreach (var start in _startOffsets)
        {
            last = _quartzNewYork.GetNextValidTimeAfter(start);
        }

        return last;
    }
}
