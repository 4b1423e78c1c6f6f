using System.Globalization;
using Durable.Scheduling.Storage;

namespace Durable.Scheduling.Sqlite;

/// <summary>The claim and lease operations of the SQLite store: claims (exclusive per schedule too), renewals, completions, releases, undone claims.</summary>
internal sealed partial class SqliteSchedulingStore
{
    public async ValueTask<IReadOnlyList<RunLease>> ClaimAsync(IReadOnlyList<Guid> ids, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<RunLease>>(() => ClaimRuns(ids, now, leaseDuration, owner), cancellationToken, items: ids.Count).ConfigureAwait(false);

    public async ValueTask<ExclusiveClaim> ClaimExclusiveAsync(Guid id, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            // One write transaction (the file's only writer meanwhile): the check and the claim are one step.
            var find = Command($"SELECT {s_impliedSchedule} FROM ds_runs WHERE id = $id");
            SqliteRows.Bind(find, "$id", id.ToByteArray());
            if (find.ExecuteScalar() is string schedule)
            {
                var busy = Command($"""
                    SELECT EXISTS (SELECT 1 FROM ds_runs WHERE status = 1 AND lease_expires > $now AND id <> $id AND {s_impliedSchedule} = $schedule)
                    """);
                SqliteRows.Bind(busy, "$id", id.ToByteArray());
                SqliteRows.Bind(busy, "$now", now.UtcTicks);
                SqliteRows.Bind(busy, "$schedule", schedule);
                if (Convert.ToInt64(busy.ExecuteScalar(), CultureInfo.InvariantCulture) != 0)
                {
                    return ExclusiveClaim.ScheduleBusy;
                }
            }

            var leases = ClaimRuns([id], now, leaseDuration, owner);
            return leases.Count == 0 ? ExclusiveClaim.NotClaimable : new ExclusiveClaim(leases[0], false);
        }, cancellationToken).ConfigureAwait(false);

    /// <summary>A run's schedule, in SQL: its own, or for an occurrence stored without one, its workflow's.</summary>
    private static readonly string s_impliedSchedule = $"coalesce(schedule_id, CASE WHEN kind = {(int)RunKind.Occurrence} THEN workflow END)";

    /// <summary>
    /// The claim itself (see <see cref="ClaimAsync"/>), inside a write: an update, then the claimed row read back by its
    /// key. Not one <c>UPDATE … RETURNING</c>: SQLite gathers a RETURNING clause's rows in a temporary table of its own
    /// first, which costs more than reading the one row by its key (this is the write done per run started).
    /// </summary>
    private List<RunLease> ClaimRuns(IReadOnlyList<Guid> ids, DateTimeOffset now, TimeSpan leaseDuration, string owner)
    {
        var claim = Statement($"""
            UPDATE ds_runs SET status = 1, lease_token = $token, lease_expires = $expires, lease_owner = $owner, attempt = attempt + 1, started = $now
            WHERE id = $id AND ((status = 0 AND due <= $now AND NOT (kind = {(int)RunKind.Occurrence} AND EXISTS (
                    SELECT 1 FROM ds_schedules s WHERE s.id = coalesce(ds_runs.schedule_id, ds_runs.workflow) AND (s.paused = 1 OR s.deleted = 1))))
                OR (status = 1 AND lease_expires <= $now))
            """);
        var read = Statement($"SELECT {SqliteSchema.RunColumns} FROM ds_runs WHERE id = $id");
        long expires = now.UtcTicks + leaseDuration.Ticks;
        var leases = new List<RunLease>(ids.Count);
        Dictionary<string, long>? started = null;
        foreach (var id in ids)
        {
            var token = RunIds.Next(now);
            claim.Bind("$id", id);
            claim.Bind("$token", token);
            claim.Bind("$expires", expires);
            claim.Bind("$now", now.UtcTicks);
            claim.Bind("$owner", owner);
            if (claim.Execute() == 0)
            {
                continue; // not claimable: gone, not due, running under a live lease, ended, or its schedule paused or deleted
            }

            read.Bind("$id", id);
            try
            {
                if (!read.Step())
                {
                    throw new InvalidOperationException($"Run {id} was claimed but could not be read back in the same transaction.");
                }

                var run = SqliteRows.ReadRun(read);
                leases.Add(new RunLease(run, token, new DateTimeOffset(expires, TimeSpan.Zero)));
                if (run is { ScheduleId: { } schedule, Attempt: 1 })
                {
                    started ??= new(StringComparer.Ordinal);
                    started[schedule] = started.GetValueOrDefault(schedule) + 1;
                }
            }
            finally
            {
                read.Reset();
            }
        }

        foreach (var (schedule, count) in started ?? [])
        {
            var add = Command("UPDATE ds_schedules SET runs = runs + $n WHERE id = $schedule AND deleted = 0");
            SqliteRows.Bind(add, "$schedule", schedule);
            SqliteRows.Bind(add, "$n", count);
            add.ExecuteNonQuery();
        }

        return leases;
    }

    public async ValueTask<bool> RenewAsync(Guid id, Guid leaseToken, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var renew = Command("UPDATE ds_runs SET lease_expires = $expires WHERE id = $id AND status = 1 AND lease_token = $token");
            SqliteRows.Bind(renew, "$id", id.ToByteArray());
            SqliteRows.Bind(renew, "$token", leaseToken.ToByteArray());
            SqliteRows.Bind(renew, "$expires", expiresAt.UtcTicks);
            return renew.ExecuteNonQuery() == 1;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<bool>> CompleteAsync(IReadOnlyList<RunCompletion> completions, CancellationToken cancellationToken) =>
        await WriteAsync<IReadOnlyList<bool>>(() =>
        {
            var complete = Statement("""
                UPDATE ds_runs SET status = $status, completed = $completed, error_type = $type, error_message = $message,
                    lease_token = NULL, lease_expires = NULL, lease_owner = NULL
                WHERE id = $id AND status = 1 AND lease_token = $token
                """);
            var results = new bool[completions.Count];
            Dictionary<string, (long Succeeded, long Failed)>? counts = null;
            for (int i = 0; i < completions.Count; i++)
            {
                var c = completions[i];
                complete.Bind("$id", c.RunId);
                complete.Bind("$token", c.LeaseToken);
                complete.Bind("$status", (long)c.Status);
                complete.Bind("$completed", c.CompletedAt.UtcTicks);
                complete.Bind("$type", c.Error?.Type);
                complete.Bind("$message", c.Error?.Message);
                results[i] = complete.Execute() == 1;
                if (results[i] && c.ScheduleId is { } schedule && c.Status is not RunStatus.Skipped)
                {
                    counts ??= new(StringComparer.Ordinal);
                    var (succeeded, failed) = counts.GetValueOrDefault(schedule);
                    counts[schedule] = c.Status == RunStatus.Succeeded ? (succeeded + 1, failed) : (succeeded, failed + 1);
                }
            }

            foreach (var (schedule, (succeeded, failed)) in counts ?? [])
            {
                var count = Command("UPDATE ds_schedules SET succeeded = succeeded + $s, failed = failed + $f WHERE id = $schedule AND deleted = 0");
                SqliteRows.Bind(count, "$schedule", schedule);
                SqliteRows.Bind(count, "$s", succeeded);
                SqliteRows.Bind(count, "$f", failed);
                count.ExecuteNonQuery();
            }

            return results;
        }, cancellationToken, items: completions.Count).ConfigureAwait(false);

    public async ValueTask<bool> ReleaseAsync(Guid id, Guid leaseToken, DateTimeOffset dueTime, RunError? failure, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var release = Command("""
                UPDATE ds_runs SET status = 0, due = $due, lease_token = NULL, lease_expires = NULL, lease_owner = NULL,
                    error_type = coalesce(CAST($type AS TEXT), error_type), error_message = coalesce(CAST($message AS TEXT), error_message)
                WHERE id = $id AND status = 1 AND lease_token = $token
                """);
            SqliteRows.Bind(release, "$id", id.ToByteArray());
            SqliteRows.Bind(release, "$token", leaseToken.ToByteArray());
            SqliteRows.Bind(release, "$due", dueTime.UtcTicks);
            SqliteRows.Bind(release, "$type", SqliteRows.Text(failure?.Type));
            SqliteRows.Bind(release, "$message", SqliteRows.Text(failure?.Message));
            return release.ExecuteNonQuery() == 1;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> UnclaimAsync(Guid id, Guid leaseToken, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var unclaim = Command($"""
                UPDATE ds_runs SET status = 0, attempt = max(attempt - 1, 0), started = CASE WHEN attempt <= 1 THEN NULL ELSE started END,
                    lease_token = NULL, lease_expires = NULL, lease_owner = NULL
                WHERE id = $id AND status = 1 AND lease_token = $token
                RETURNING attempt, {s_impliedSchedule}
                """);
            SqliteRows.Bind(unclaim, "$id", id.ToByteArray());
            SqliteRows.Bind(unclaim, "$token", leaseToken.ToByteArray());
            string? uncounted = null;
            using (var reader = unclaim.ExecuteReader())
            {
                if (!reader.Read())
                {
                    return false;
                }

                if (reader.GetInt64(0) == 0 && !reader.IsDBNull(1))
                {
                    uncounted = reader.GetString(1); // the claim counted it on its schedule (an occurrence stored without one: its workflow's)
                }
            }

            if (uncounted is not null)
            {
                var take = Command("UPDATE ds_schedules SET runs = max(runs - 1, 0) WHERE id = $schedule AND deleted = 0");
                SqliteRows.Bind(take, "$schedule", uncounted);
                take.ExecuteNonQuery();
            }

            return true;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<int> ReleaseOwnedAsync(string owner, CancellationToken cancellationToken) =>
        await WriteAsync(() =>
        {
            var release = Command("""
                UPDATE ds_runs SET status = 0, lease_token = NULL, lease_expires = NULL, lease_owner = NULL
                WHERE status = 1 AND lease_owner = CAST($owner AS TEXT)
                """);
            SqliteRows.Bind(release, "$owner", SqliteRows.Text(owner)); // as the claim wrote it
            return release.ExecuteNonQuery();
        }, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> GetLeaseOwnersAsync(CancellationToken cancellationToken) =>
        await ReadAsync<IReadOnlyList<string>>(connection =>
        {
            var command = SqliteReaderPool.Prepared(connection, "SELECT DISTINCT CAST(lease_owner AS TEXT) FROM ds_runs WHERE status = 1 AND lease_owner IS NOT NULL");
            using var reader = command.ExecuteReader();
            var owners = new List<string>();
            while (reader.Read())
            {
                owners.Add(reader.GetString(0));
            }

            return owners;
        }, cancellationToken).ConfigureAwait(false);
}
