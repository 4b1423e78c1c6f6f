using Durable.Scheduling.Cron;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Cron;

/// <summary>
/// No input may make the engine throw anything but <see cref="CronFormatException"/>: random garbage and mutations
/// of valid expressions, parsed in every format, then (when valid) evaluated in several zones both ways.
/// </summary>
[TestFixture]
public sealed class CronFuzzTests
{
    private const string Alphabet = "0123456789*/-,?#LWHlwh JANFEBMONSUNDAYjanuaryX@\t_!%\0é";

    private static readonly string[] s_valid =
    [
        "*/30 * * * * *", "0 9 * * MON-FRI", "0 0 L * *", "15 10 ? * 6#3", "0 0 L-3W * *", "5 4 1W * SUNL",
        "@hourly", "@every_second", "10,56-3/2 * * * *", "0 0 29 2 *", "0 0 * DEC-FEB 5L", "59 23 31 12 *",
    ];

    private static readonly TimeZoneInfo[] s_zones =
    [
        TimeZoneInfo.Utc,
        TimeZoneInfo.FindSystemTimeZoneById("America/New_York"),
        TimeZoneInfo.FindSystemTimeZoneById("Australia/Lord_Howe"),
        TimeZoneInfo.FindSystemTimeZoneById("Pacific/Kiritimati"),
    ];

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void ParseAndEvaluate_RandomInput_OnlyEverThrowsCronFormatException(int seed)
    {
        var random = new Random(seed);
        int valid = 0;
        for (int i = 0; i < 4000; i++)
        {
            string text = i % 2 == 0 ? Garbage(random) : Mutate(s_valid[random.Next(s_valid.Length)], random);
            foreach (var format in new[] { CronFormat.Standard, CronFormat.IncludeSeconds, CronFormat.Auto })
            {
                CronSpec? parsed = null;
                try
                {
                    parsed = CronSpec.Parse(text, format);
                }
                catch (CronFormatException)
                {
                    CronSpec.TryParse(text, format, out var none).Should().BeFalse(text);
                    none.Should().BeNull();
                    continue;
                }

                valid++;
                Evaluate(parsed, random, text);
            }
        }

        valid.Should().BeGreaterThan(100, "the mutations must also exercise evaluation, not only rejection");
    }

    private static void Evaluate(CronSpec cron, Random random, string text)
    {
        var zone = s_zones[random.Next(s_zones.Length)];
        var from = new DateTime((long)(random.NextDouble() * DateTime.MaxValue.Ticks), DateTimeKind.Utc);
        var next = cron.GetNextOccurrence(from, zone, random.Next(2) == 0);
        var previous = cron.GetPreviousOccurrence(from, zone, random.Next(2) == 0);
        if (next is not null)
        {
            next.Value.Should().BeOnOrAfter(from, text);
        }

        if (previous is not null)
        {
            previous.Value.Should().BeOnOrBefore(from, text);
        }

        _ = CronSpec.Parse(cron.ToString(), CronFormat.Auto); // the normal form parses back
    }

    private static string Garbage(Random random)
    {
        var chars = new char[random.Next(0, 40)];
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = Alphabet[random.Next(Alphabet.Length)];
        }

        return new string(chars);
    }

    private static string Mutate(string valid, Random random)
    {
        var chars = valid.ToList();
        int edits = random.Next(1, 4);
        for (int e = 0; e < edits; e++)
        {
            int at = random.Next(chars.Count + 1);
            switch (random.Next(4))
            {
                case 0 when chars.Count > 0 && at < chars.Count:
                    chars.RemoveAt(at);
                    break;
                case 1:
                    chars.Insert(at, Alphabet[random.Next(Alphabet.Length)]);
                    break;
                case 2 when at < chars.Count:
                    chars[at] = char.IsAsciiDigit(chars[at]) ? (char)('0' + random.Next(10)) : Alphabet[random.Next(Alphabet.Length)];
                    break;
                default:
                    chars.InsertRange(at, random.Next(99999).ToString(System.Globalization.CultureInfo.InvariantCulture));
                    break;
            }
        }

        return new string(chars.ToArray());
    }
}
