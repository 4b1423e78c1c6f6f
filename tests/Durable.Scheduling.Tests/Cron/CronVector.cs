using System.Globalization;
using System.Reflection;
using Durable.Scheduling.Cron;

namespace Durable.Scheduling.Tests.Cron;

/// <summary>One row of <c>Data/cronos-cases.tsv</c> (see Data/PROVENANCE.md).</summary>
public sealed record CronVector(
    string Id, string Source, string Kind, string Expression, CronFormat Format, int? Seed,
    DateTime? FromUtc, string? Zone, bool Inclusive, int Count, string Expected, string Note)
{
    private static readonly Lazy<IReadOnlyList<CronVector>> s_all = new(Load);

    public static IReadOnlyList<CronVector> All => s_all.Value;

    public TimeZoneInfo TimeZone => Zone is null or "UTC" ? TimeZoneInfo.Utc : TimeZoneInfo.FindSystemTimeZoneById(Zone);

    /// <summary>Parses the row through this library's layer over Cronos.</summary>
    internal CronSpec Parse() => CronSpec.Parse(Expression, Format);

    /// <summary>True when the row uses Cronos's hashed values (H), which this library refuses.</summary>
    public bool UsesHash => System.Text.RegularExpressions.Regex.IsMatch(Expression, @"(^|[ ,\t])H($|[/( ,\t])");

    /// <summary>True for a macro row with a seed: Cronos jitters it; this library has no seeds.</summary>
    public bool IsJitteredMacro => Seed is not null && Expression.TrimStart().StartsWith('@');

    /// <summary>The format as Cronos names it.</summary>
    public Cronos.CronFormat CronosFormat => Format == CronFormat.IncludeSeconds ? Cronos.CronFormat.IncludeSeconds : Cronos.CronFormat.Standard;

    public override string ToString() => $"{Id} {Kind} '{Expression}' ({Source})";

    private static List<CronVector> Load()
    {
        using var stream = typeof(CronVector).Assembly.GetManifestResourceStream(
            typeof(CronVector).Assembly.GetManifestResourceNames().Single(n => n.EndsWith("cronos-cases.tsv", StringComparison.Ordinal)))!;
        using var reader = new StreamReader(stream);
        var rows = new List<CronVector>();
        reader.ReadLine(); // header
        while (reader.ReadLine() is { } line)
        {
            var c = line.Split('\t');
            rows.Add(new CronVector(
                c[0], c[1], c[2], c[3].Replace("\\t", "\t", StringComparison.Ordinal),
                c[4] == "6" ? CronFormat.IncludeSeconds : CronFormat.Standard,
                c[5].Length == 0 ? null : int.Parse(c[5], CultureInfo.InvariantCulture),
                c[6].Length == 0 ? null : DateTime.Parse(c[6], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal),
                c[7].Length == 0 ? null : c[7],
                c[8] == "1",
                c[9].Length == 0 ? 0 : int.Parse(c[9], CultureInfo.InvariantCulture),
                c[10],
                c.Length > 13 ? c[13] : string.Empty));
        }

        return rows;
    }
}
