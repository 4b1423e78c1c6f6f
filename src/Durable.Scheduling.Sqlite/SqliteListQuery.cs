using System.Globalization;
using System.Text;
using Durable.Scheduling.Storage;
using Microsoft.Data.Sqlite;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// How a page of <see cref="RunQuery"/> is read: from the index of the query's rarest filter, in list order (scheduled
/// instant, then id), so a page costs about the rows it returns plus the rows of that index it passes over.
/// </summary>
/// <remarks>
/// Why not leave the choice to SQLite's planner: without statistics it takes any equality as selective, and with them
/// it knows only averages (a status holding 0.1 % of the runs looks like one holding half), so it may walk a large index
/// in order to fill a page from a rare filter. When a query offers more than one index, each is read from where the page
/// starts for at most <see cref="CountCap"/> rows: an index that runs out first holds the fewest rows, and among those
/// that do not, the one whose last row read lies furthest on is the sparsest. The other filters are tested beside the
/// chosen index's rows, by seeks into their own indexes where they have one, before a run's row is read.
/// </remarks>
internal static class SqliteListQuery
{
    /// <summary>The most rows read of each candidate index when choosing one.</summary>
    private const int CountCap = 500;

    private static readonly string s_qualifiedColumns = Qualify(SqliteSchema.RunColumns);
    private static readonly string s_qualifiedColumnsWithoutInput = Qualify(SqliteSchema.RunColumnsWithoutInput);

    public static RunPage Read(SqliteConnection connection, RunQuery query)
    {
        using var command = connection.CreateCommand();
        string where = SqliteRows.Where(command, query);
        int size = Math.Clamp(query.PageSize, 1, 1000);
        var driver = Choose(connection, command, query);
        command.CommandText = Select(driver, query, where, size + 1);
        var items = new List<ScheduledRun>(size + 1);
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                items.Add(SqliteRows.ReadRun(reader));
            }
        }

        string? token = null;
        if (items.Count > size)
        {
            items.RemoveAt(size);
            token = ContinuationTokens.Encode(items[^1].ScheduledTime.UtcTicks, items[^1].Id);
        }

        return new RunPage(items, token);
    }

    /// <summary>The index a page is read from.</summary>
    private readonly record struct Driver(DriverKind Kind, int Pair = 0);

    private enum DriverKind
    {
        /// <summary>Every run in list order (no filter with an index of its own, or a time range is the rarest).</summary>
        Scheduled,
        Workflow,
        Schedule,

        /// <summary>One index range per asked status, merged.</summary>
        Statuses,

        /// <summary>The runs with one of the asked metadata pairs (<see cref="Driver.Pair"/>), in list order.</summary>
        Metadata,
    }

    private static Driver Choose(SqliteConnection connection, SqliteCommand bound, RunQuery query)
    {
        // In the order ties are broken: metadata pairs and statuses are usually the rarer filters.
        var candidates = new List<Driver>();
        for (int i = 0; i < (query.Metadata?.Count ?? 0); i++)
        {
            candidates.Add(new Driver(DriverKind.Metadata, i));
        }

        if (query.Statuses is { Count: > 0 })
        {
            candidates.Add(new Driver(DriverKind.Statuses));
        }

        if (query.WorkflowName is not null)
        {
            candidates.Add(new Driver(DriverKind.Workflow));
        }

        if (query.ScheduleId is not null)
        {
            candidates.Add(new Driver(DriverKind.Schedule));
        }

        if (query.ScheduledFrom is not null || query.ScheduledTo is not null)
        {
            candidates.Add(new Driver(DriverKind.Scheduled));
        }

        if (candidates.Count <= 1)
        {
            return candidates.Count == 1 ? candidates[0] : new Driver(DriverKind.Scheduled);
        }

        using var count = connection.CreateCommand();
        foreach (SqliteParameter parameter in bound.Parameters)
        {
            count.Parameters.AddWithValue(parameter.ParameterName, parameter.Value);
        }

        // Each candidate's index is read from the page's start for at most CountCap rows, noting how many it found and
        // the instant of the last. One that ran out of rows holds fewer than the cap: the fewest such rows win. When
        // every candidate reached the cap, the one whose cap-th row lies furthest on is the sparsest from the start (a
        // candidate of several ranges counts as far as its nearest full range reaches), which is the index a page
        // passes over least of, as its other filters match about as often wherever it is read.
        int best = -1;
        long fewest = long.MaxValue;
        long furthest = long.MinValue;
        for (int c = 0; c < candidates.Count; c++)
        {
            long rows = 0;
            long reach = long.MaxValue;
            foreach (string part in Parts(candidates[c], query))
            {
                count.CommandText = $"SELECT count(*), max(at) FROM ({part} LIMIT {CountCap})";
                using var reader = count.ExecuteReader();
                reader.Read();
                long found = reader.GetInt64(0);
                rows += found;
                if (found >= CountCap)
                {
                    reach = Math.Min(reach, reader.GetInt64(1));
                }
            }

            bool exhausted = reach == long.MaxValue;
            if (exhausted ? rows < fewest : fewest == long.MaxValue && reach > furthest)
            {
                best = c;
                if (exhausted)
                {
                    fewest = rows;
                }
                else
                {
                    furthest = reach;
                }
            }
        }

        return candidates[best];
    }

    /// <summary>The rows of a driver's index from where the page starts, in list order, as one query per range (each row's instant only).</summary>
    private static IEnumerable<string> Parts(Driver driver, RunQuery query)
    {
        string range = Range(query, "scheduled", "id");
        switch (driver.Kind)
        {
            case DriverKind.Scheduled:
                yield return $"SELECT scheduled AS at FROM ds_runs INDEXED BY ds_runs_scheduled WHERE 1 = 1{range}";
                break;
            case DriverKind.Workflow:
                yield return $"SELECT scheduled AS at FROM ds_runs INDEXED BY ds_runs_workflow WHERE workflow = $workflow{range}";
                break;
            case DriverKind.Schedule:
                yield return $"SELECT scheduled AS at FROM ds_runs INDEXED BY ds_runs_schedule WHERE schedule_id = $schedule{range}";
                break;
            case DriverKind.Statuses:
                foreach (var status in query.Statuses!.Distinct())
                {
                    // Succeeded runs have no index of their own: every run in the range bounds their number.
                    yield return status == RunStatus.Succeeded
                        ? $"SELECT scheduled AS at FROM ds_runs INDEXED BY ds_runs_scheduled WHERE 1 = 1{range}"
                        : $"SELECT scheduled AS at FROM ds_runs {StatusTerms(status)}{range}";
                }

                break;
            default:
                yield return $"SELECT scheduled AS at FROM ds_run_pairs WHERE key = CAST($mk{driver.Pair} AS TEXT) AND value = CAST($mv{driver.Pair} AS TEXT){Range(query, "scheduled", "run_id")}";
                break;
        }
    }

    private static string Select(Driver driver, RunQuery query, string where, int limit)
    {
        string columns = query.IncludeInput ? SqliteSchema.RunColumns : SqliteSchema.RunColumnsWithoutInput; // inputs can be large
        string order = $"ORDER BY scheduled, id LIMIT {limit}";
        var probes = driver.Kind == DriverKind.Metadata ? (Joins: "", Terms: "") : Probes(query, driver, "d", "d.id");
        switch (driver.Kind)
        {
            case DriverKind.Workflow when probes.Joins.Length > 0:
                return Joined(query, "ds_runs_workflow", "d.workflow = $workflow", probes, where, limit);
            case DriverKind.Workflow:
                return $"SELECT {columns} FROM ds_runs INDEXED BY ds_runs_workflow WHERE {where} {order}";
            case DriverKind.Schedule when probes.Joins.Length > 0:
                return Joined(query, "ds_runs_schedule", "d.schedule_id = $schedule", probes, where, limit);
            case DriverKind.Schedule:
                return $"SELECT {columns} FROM ds_runs INDEXED BY ds_runs_schedule WHERE {where} {order}";
            case DriverKind.Statuses:
                var statuses = query.Statuses!.Distinct().ToList();
                if (statuses.Count == 1 && InStatusIndex(statuses[0]) && probes.Joins.Length > 0)
                {
                    return Joined(query, "ds_runs_status", $"d.status = {(int)statuses[0]} AND d.status <> 1 AND d.status <> 2", probes, where, limit);
                }

                if (statuses.Count == 1)
                {
                    return $"SELECT {columns} FROM ds_runs {StatusTerms(statuses[0])} AND {where} {order}";
                }

                // One ordered range per status, each cut at the page size, merged: a page never sorts more than that.
                var union = new StringBuilder();
                foreach (var status in statuses)
                {
                    union.Append(union.Length == 0 ? "" : " UNION ALL ").Append(CultureInfo.InvariantCulture, $"SELECT * FROM (SELECT {columns} FROM ds_runs {StatusTerms(status)} AND {where} {order})");
                }

                return $"{union} {order}";
            case DriverKind.Metadata:
                string qualified = query.IncludeInput ? s_qualifiedColumns : s_qualifiedColumnsWithoutInput;
                var (joins, terms) = Probes(query, driver, "m", "m.run_id");
                return $"""
                    SELECT {qualified} FROM ds_run_pairs m{joins} CROSS JOIN ds_runs ON ds_runs.id = m.run_id
                    WHERE m.key = CAST($mk{driver.Pair} AS TEXT) AND m.value = CAST($mv{driver.Pair} AS TEXT){Range(query, "m.scheduled", "m.run_id")}{terms} AND {where}
                    ORDER BY m.scheduled, m.run_id LIMIT {limit}
                    """;
            default:
                return $"SELECT {columns} FROM ds_runs INDEXED BY ds_runs_scheduled WHERE {where} {order}";
        }
    }

    /// <summary>
    /// A page read from a driving index (<paramref name="index"/>, alias <c>d</c>) whose rows are tested against the
    /// query's other indexed filters (<paramref name="probes"/>) before the run's row is read: a driving index whose rows
    /// few of the other filters match would otherwise read each of its runs' rows, which lie scattered through the table.
    /// </summary>
    private static string Joined(RunQuery query, string index, string terms, (string Joins, string Terms) probes, string where, int limit)
    {
        string selected = query.IncludeInput ? s_qualifiedColumns : s_qualifiedColumnsWithoutInput;
        return $"""
            SELECT {selected} FROM ds_runs d INDEXED BY {index}{probes.Joins} CROSS JOIN ds_runs ON ds_runs.id = d.id
            WHERE {terms}{Range(query, "d.scheduled", "d.id")}{probes.Terms} AND {where}
            ORDER BY d.scheduled, d.id LIMIT {limit}
            """;
    }

    /// <summary>True for a status the status index holds (it leaves out running and succeeded runs).</summary>
    private static bool InStatusIndex(RunStatus status) => status is not (RunStatus.Running or RunStatus.Succeeded);

    /// <summary>
    /// Joins that test a row of the driving index against the query's other indexed filters before the run's row is
    /// read: each a seek into that filter's index by the run's instant and id (the driving index is read in instant
    /// order, so the seeks move forward through the other index, where the run rows it would otherwise read lie
    /// scattered by id). Each matches at most one row (the run's own entry), so the joins never repeat a run. Joins, not
    /// EXISTS terms: SQLite may turn an EXISTS into a join after the run's row, and CROSS JOIN fixes the order. Statuses
    /// are tested so only when the status index holds every one asked.
    /// </summary>
    /// <param name="query">The query.</param>
    /// <param name="driver">The driving index (its own filter is not tested again).</param>
    /// <param name="alias">The driving index's alias; its instant is <c>{alias}.scheduled</c>.</param>
    /// <param name="runId">The driving index's run id column.</param>
    /// <returns>The joins (each starting with a space), and the terms that go with them (each starting with " AND").</returns>
    private static (string Joins, string Terms) Probes(RunQuery query, Driver driver, string alias, string runId)
    {
        var joins = new StringBuilder();
        var terms = new StringBuilder();
        if (query.WorkflowName is not null && driver.Kind != DriverKind.Workflow)
        {
            joins.Append(" CROSS JOIN ds_runs w INDEXED BY ds_runs_workflow");
            terms.Append(CultureInfo.InvariantCulture, $" AND w.workflow = $workflow AND w.scheduled = {alias}.scheduled AND w.id = {runId}");
        }

        if (query.ScheduleId is not null && driver.Kind != DriverKind.Schedule)
        {
            joins.Append(" CROSS JOIN ds_runs c INDEXED BY ds_runs_schedule");
            terms.Append(CultureInfo.InvariantCulture, $" AND c.schedule_id = $schedule AND c.scheduled = {alias}.scheduled AND c.id = {runId}");
        }

        if (query.Statuses is { Count: > 0 } statuses && driver.Kind != DriverKind.Statuses && statuses.All(InStatusIndex))
        {
            string listed = string.Join(", ", statuses.Distinct().Select(st => ((int)st).ToString(CultureInfo.InvariantCulture)));
            joins.Append(" CROSS JOIN ds_runs t INDEXED BY ds_runs_status");
            terms.Append(CultureInfo.InvariantCulture, $" AND t.status IN ({listed}) AND t.status <> 1 AND t.status <> 2 AND t.scheduled = {alias}.scheduled AND t.id = {runId}");
        }

        for (int i = 0; i < (query.Metadata?.Count ?? 0); i++)
        {
            if (driver.Kind != DriverKind.Metadata || i != driver.Pair)
            {
                joins.Append(CultureInfo.InvariantCulture, $" CROSS JOIN ds_run_pairs p{i}");
                terms.Append(CultureInfo.InvariantCulture, $" AND p{i}.key = CAST($mk{i} AS TEXT) AND p{i}.value = CAST($mv{i} AS TEXT) AND p{i}.scheduled = {alias}.scheduled AND p{i}.run_id = {runId}");
            }
        }

        return (joins.ToString(), terms.ToString());
    }

    /// <summary>FROM's index and the WHERE terms that let a status be read from it in list order.</summary>
    private static string StatusTerms(RunStatus status) => status switch
    {
        RunStatus.Running => "INDEXED BY ds_runs_lease WHERE status = 1", // the running runs are few: read them all and sort
        RunStatus.Succeeded => "INDEXED BY ds_runs_scheduled WHERE status = 2", // most ended runs: dense in list order
        _ => $"INDEXED BY ds_runs_status WHERE status = {(int)status} AND status <> 1 AND status <> 2",
    };

    /// <summary>The terms bounding a read to the page's start and the query's time range (parameters bound by <see cref="SqliteRows.Where"/>).</summary>
    private static string Range(RunQuery query, string scheduled, string id)
    {
        var range = new StringBuilder();
        if (query.ContinuationToken is not null)
        {
            range.Append(CultureInfo.InvariantCulture, $" AND ({scheduled}, {id}) > ($afterScheduled, $afterId)");
        }

        if (query.ScheduledFrom is { } from && !StartsAfter(query, from))
        {
            range.Append(CultureInfo.InvariantCulture, $" AND {scheduled} >= $from");
        }

        if (query.ScheduledTo is not null)
        {
            range.Append(CultureInfo.InvariantCulture, $" AND {scheduled} < $to");
        }

        return range.ToString();
    }

    /// <summary>
    /// True when the page starts (its continuation) at or after the query's first instant: the start alone then bounds
    /// the read, and leaving the instant out lets SQLite seek to the start instead of filtering from the instant on.
    /// </summary>
    public static bool StartsAfter(RunQuery query, DateTimeOffset from) =>
        query.ContinuationToken is { } token && ContinuationTokens.Decode(token).Ticks >= from.UtcTicks;

    private static string Qualify(string columns) =>
        string.Join(", ", columns.Split(", ").Select(c => c.StartsWith("NULL", StringComparison.Ordinal) ? c : "ds_runs." + c));
}
