using Durable.Scheduling.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Durable.Scheduling.PostgreSql;

/// <summary>The claim and lease operations of the PostgreSQL store: claims (exclusive per schedule too), renewals, completions, releases, undone claims.</summary>
internal sealed partial class PostgreSqlSchedulingStore
{
    public async ValueTask<IReadOnlyList<RunLease>> ClaimAsync(IReadOnlyList<Guid> ids, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ids);
        ArgumentNullException.ThrowIfNull(owner);
        if (ids.Count == 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return [];
        }

        return await _db.RunAsync<IReadOnlyList<RunLease>>("claim runs", async ct =>
        {
            var tokens = new Guid[ids.Count];
            for (int i = 0; i < tokens.Length; i++)
            {
                tokens[i] = RunIds.Next(now);
            }

            long expires = now.UtcTicks + leaseDuration.Ticks;
            var claim = _data.CreateCommand(_claimSql);
            await using var claimScope = claim.ConfigureAwait(false);
            BindClaim(claim, ids as Guid[] ?? [.. ids], tokens, now, expires, leaseDuration, owner);
            var won = new List<(long Order, RunLease Lease)>(ids.Count);
            var expiresAt = PostgreSqlRows.Instant(expires);
            var reader = await claim.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    won.Add((reader.GetInt64(0), new RunLease(PostgreSqlRows.ReadRun(reader, 2), reader.GetGuid(1), expiresAt)));
                }
            }

            won.Sort((a, b) => a.Order.CompareTo(b.Order));
            return [.. won.Select(w => w.Lease)];
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The parameters of the claim statement (<c>_claimSql</c>).</summary>
    private static void BindClaim(NpgsqlCommand claim, Guid[] ids, Guid[] tokens, DateTimeOffset now, long expires, TimeSpan leaseDuration, string owner)
    {
        claim.Parameters.AddWithValue("ids", ids);
        claim.Parameters.AddWithValue("tokens", tokens);
        claim.Parameters.AddWithValue("now", now.UtcTicks);
        claim.Parameters.AddWithValue("expires", expires);
        claim.Parameters.AddWithValue("lease", leaseDuration < TimeSpan.Zero ? TimeSpan.Zero : leaseDuration);
        claim.Parameters.AddWithValue("owner", PostgreSqlRows.Encode(owner)!);
    }

    public async ValueTask<ExclusiveClaim> ClaimExclusiveAsync(Guid id, DateTimeOffset now, TimeSpan leaseDuration, string owner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return await _db.RunAsync("claim a run of a schedule", async ct =>
        {
            var connection = await _data.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var connectionScope = connection.ConfigureAwait(false);
            var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            await using var transactionScope = transaction.ConfigureAwait(false);

            // Claimers of one schedule's runs take its lock (held to the commit) before they look, and look in a
            // statement of its own (a snapshot taken once the lock is held): two of them never both see the schedule
            // idle. A lease counts as live until both clocks say it expired (as for takeovers).
            string? schedule = null;
            var lockSchedule = new NpgsqlCommand($"""
                SELECT schedule, pg_advisory_xact_lock(hashtextextended(@prefix || schedule, 0))::text
                FROM (SELECT coalesce(schedule_id, CASE WHEN kind = {(int)RunKind.Occurrence} THEN workflow END) AS schedule FROM {_runs} WHERE id = @id) run
                WHERE schedule IS NOT NULL
                """, connection, transaction);
            await using (lockSchedule.ConfigureAwait(false))
            {
                lockSchedule.Parameters.AddWithValue("id", id);
                lockSchedule.Parameters.AddWithValue("prefix", _runScheduleLockPrefix);
                var reader = await lockSchedule.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        schedule = reader.GetString(0);
                    }
                }
            }

            if (schedule is not null)
            {
                var busy = new NpgsqlCommand($"""
                    SELECT EXISTS (
                        SELECT 1 FROM {_runs}
                        WHERE status = 1 AND id <> @id AND (lease_expires > @now OR lease_db_expires > clock_timestamp())
                          AND coalesce(schedule_id, CASE WHEN kind = {(int)RunKind.Occurrence} THEN workflow END) = @schedule)
                    """, connection, transaction);
                await using (busy.ConfigureAwait(false))
                {
                    busy.Parameters.AddWithValue("id", id);
                    busy.Parameters.AddWithValue("now", now.UtcTicks);
                    busy.Parameters.AddWithValue("schedule", schedule);
                    if ((bool)(await busy.ExecuteScalarAsync(ct).ConfigureAwait(false))!)
                    {
                        await transaction.CommitAsync(ct).ConfigureAwait(false);
                        return ExclusiveClaim.ScheduleBusy;
                    }
                }
            }

            var token = RunIds.Next(now);
            long expires = now.UtcTicks + leaseDuration.Ticks;
            RunLease? lease = null;
            var claim = new NpgsqlCommand(_claimSql, connection, transaction);
            await using (claim.ConfigureAwait(false))
            {
                BindClaim(claim, [id], [token], now, expires, leaseDuration, owner);
                var reader = await claim.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        lease = new RunLease(PostgreSqlRows.ReadRun(reader, 2), reader.GetGuid(1), PostgreSqlRows.Instant(expires));
                    }
                }
            }

            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return lease is { } won ? new ExclusiveClaim(won, false) : ExclusiveClaim.NotClaimable;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> RenewAsync(Guid id, Guid leaseToken, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        await _db.RunAsync("renew a lease", async ct =>
        {
            // The database's expiry moves by as much as the holder moved its own: no instant crosses between clocks.
            var renew = _data.CreateCommand($"""
                UPDATE {_runs} SET lease_expires = @expires,
                    lease_db_expires = lease_db_expires + make_interval(secs => (@expires - lease_expires) / 10000000.0)
                WHERE id = @id AND status = 1 AND lease_token = @token
                """);
            await using var renewScope = renew.ConfigureAwait(false);
            renew.Parameters.AddWithValue("id", id);
            renew.Parameters.AddWithValue("token", leaseToken);
            renew.Parameters.AddWithValue("expires", expiresAt.UtcTicks);
            return await renew.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<IReadOnlyList<bool>> CompleteAsync(IReadOnlyList<RunCompletion> completions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completions);
        if (completions.Count == 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return [];
        }

        return await _db.RunAsync<IReadOnlyList<bool>>("complete runs", async ct =>
        {
            bool counting = completions.Any(c => c.ScheduleId is not null && c.Status != RunStatus.Skipped);
            var complete = _data.CreateCommand(counting ? _completeCountingSql : _completeSql);
            await using var completeScope = complete.ConfigureAwait(false);
            if (counting)
            {
                complete.Parameters.Add(new NpgsqlParameter("schedules", NpgsqlDbType.Array | NpgsqlDbType.Text)
                {
                    Value = completions.Select(c => c.Status == RunStatus.Skipped ? null : PostgreSqlRows.Encode(c.ScheduleId)).ToArray(),
                });
            }

            complete.Parameters.AddWithValue("ids", completions.Select(c => c.RunId).ToArray());
            complete.Parameters.AddWithValue("tokens", completions.Select(c => c.LeaseToken).ToArray());
            complete.Parameters.AddWithValue("statuses", completions.Select(c => (short)c.Status).ToArray());
            complete.Parameters.AddWithValue("completed", completions.Select(c => c.CompletedAt.UtcTicks).ToArray());
            complete.Parameters.Add(new NpgsqlParameter("types", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = completions.Select(c => PostgreSqlRows.Encode(c.Error?.Type)).ToArray() });
            complete.Parameters.Add(new NpgsqlParameter("messages", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = completions.Select(c => PostgreSqlRows.Encode(c.Error?.Message)).ToArray() });
            var counted = new bool[completions.Count];
            var reader = await complete.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                counted[reader.GetInt64(0) - 1] = true;
            }

            return counted;
        }, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> ReleaseAsync(Guid id, Guid leaseToken, DateTimeOffset dueTime, RunError? failure, CancellationToken cancellationToken) =>
        await _db.RunAsync("release a run", async ct =>
        {
            var batch = _data.CreateBatch();
            await using var batchScope = batch.ConfigureAwait(false);
            var release = new NpgsqlBatchCommand($"""
                UPDATE {_runs} SET status = 0, due = @due, lease_token = NULL, lease_expires = NULL, lease_db_expires = NULL, lease_owner = NULL,
                    error_type = coalesce(@type, error_type), error_message = coalesce(@message, error_message)
                WHERE id = @id AND status = 1 AND lease_token = @token
                """);
            release.Parameters.AddWithValue("id", id);
            release.Parameters.AddWithValue("token", leaseToken);
            release.Parameters.AddWithValue("due", dueTime.UtcTicks);
            release.Parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Text) { Value = (object?)PostgreSqlRows.Encode(failure?.Type) ?? DBNull.Value });
            release.Parameters.Add(new NpgsqlParameter("message", NpgsqlDbType.Text) { Value = (object?)PostgreSqlRows.Encode(failure?.Message) ?? DBNull.Value });
            batch.BatchCommands.Add(release);
            _db.AddNotify(batch, dueTime.UtcTicks);
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            return reader.RecordsAffected == 1;
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<bool> UnclaimAsync(Guid id, Guid leaseToken, CancellationToken cancellationToken) =>
        await _db.RunAsync("undo a claim", async ct =>
        {
            // Rows are locked in the order every statement here takes them: the run, then its schedule.
            var batch = _data.CreateBatch();
            await using var batchScope = batch.ConfigureAwait(false);
            var unclaim = new NpgsqlBatchCommand();
            unclaim.CommandText = $"""
                WITH unclaimed AS (
                    UPDATE {_runs} SET status = 0, attempt = greatest(attempt - 1, 0), started = CASE WHEN attempt <= 1 THEN NULL ELSE started END,
                        lease_token = NULL, lease_expires = NULL, lease_db_expires = NULL, lease_owner = NULL
                    WHERE id = @id AND status = 1 AND lease_token = @token
                    RETURNING attempt, due, coalesce(schedule_id, CASE WHEN kind = {(int)RunKind.Occurrence} THEN workflow END) AS schedule),
                uncounted AS (
                    UPDATE {_schedules} s SET runs = greatest(s.runs - 1, 0)
                    FROM unclaimed u WHERE u.attempt = 0 AND s.id = u.schedule)
                SELECT due, {_db.NotifyItem(unclaim, "due")} FROM unclaimed
                """;
            unclaim.Parameters.AddWithValue("id", id);
            unclaim.Parameters.AddWithValue("token", leaseToken);
            batch.BatchCommands.Add(unclaim);
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);

    public async ValueTask<int> ReleaseOwnedAsync(string owner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return await _db.RunAsync("release an instance's runs", async ct =>
        {
            var batch = _data.CreateBatch();
            await using var batchScope = batch.ConfigureAwait(false);
            var release = new NpgsqlBatchCommand($"""
                UPDATE {_runs} SET status = 0, lease_token = NULL, lease_expires = NULL, lease_db_expires = NULL, lease_owner = NULL
                WHERE status = 1 AND lease_owner = @owner
                """);
            release.Parameters.AddWithValue("owner", PostgreSqlRows.Encode(owner)!);
            batch.BatchCommands.Add(release);
            _db.AddNotify(batch, DateTimeOffset.MinValue.UtcTicks); // released runs keep their due times, unknown here
            var reader = await batch.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            return reader.RecordsAffected;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<string>> GetLeaseOwnersAsync(CancellationToken cancellationToken) =>
        await _db.RunAsync<IReadOnlyList<string>>("read the lease owners", async ct =>
        {
            var command = _data.CreateCommand($"SELECT DISTINCT lease_owner FROM {_runs} WHERE status = 1 AND lease_owner IS NOT NULL");
            await using var commandScope = command.ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await using var readerScope = reader.ConfigureAwait(false);
            var owners = new List<string>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                owners.Add(PostgreSqlRows.Decode(reader.GetString(0))!);
            }

            return owners;
        }, cancellationToken).ConfigureAwait(false);
}
