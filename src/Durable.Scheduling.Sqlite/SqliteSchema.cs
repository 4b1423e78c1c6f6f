namespace Durable.Scheduling.Sqlite;

/// <summary>The schema, as forward-only migrations; index i moves a file from version i to i + 1.</summary>
internal static class SqliteSchema
{
    public const string Product = "Durable.Scheduling";

    public static readonly string[] Migrations =
    [
        """
        CREATE TABLE ds_schema (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            product TEXT NOT NULL,
            version INTEGER NOT NULL);
        CREATE TABLE ds_runs (
            id BLOB PRIMARY KEY,
            workflow TEXT NOT NULL,
            kind INTEGER NOT NULL,
            idem_key TEXT NOT NULL UNIQUE,
            scheduled INTEGER NOT NULL,
            due INTEGER NOT NULL,
            status INTEGER NOT NULL,
            attempt INTEGER NOT NULL,
            input TEXT,
            metadata TEXT,
            created INTEGER NOT NULL,
            started INTEGER,
            completed INTEGER,
            error_type TEXT,
            error_message TEXT,
            lease_token BLOB,
            lease_expires INTEGER) WITHOUT ROWID;
        CREATE INDEX ds_runs_due ON ds_runs (due, id) WHERE status = 0;
        CREATE INDEX ds_runs_lease ON ds_runs (lease_expires) WHERE status = 1;
        CREATE INDEX ds_runs_scheduled ON ds_runs (scheduled, id);
        CREATE INDEX ds_runs_workflow ON ds_runs (workflow, scheduled);
        CREATE INDEX ds_runs_ended ON ds_runs (completed) WHERE status >= 2;
        CREATE TABLE ds_run_metadata (
            run_id BLOB NOT NULL REFERENCES ds_runs (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_id, key)) WITHOUT ROWID;
        CREATE INDEX ds_run_metadata_value ON ds_run_metadata (key, value);
        CREATE TABLE ds_watermarks (
            schedule TEXT PRIMARY KEY,
            value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO ds_schema (id, product, version) VALUES (1, 'Durable.Scheduling', 1);
        """,
        """
        ALTER TABLE ds_runs ADD COLUMN lease_owner TEXT;
        """,
        """
        ALTER TABLE ds_runs ADD COLUMN trace_parent TEXT;
        """,
        """
        ALTER TABLE ds_runs ADD COLUMN schedule_id TEXT;
        ALTER TABLE ds_runs ADD COLUMN overlap INTEGER;
        CREATE INDEX ds_runs_schedule ON ds_runs (schedule_id, scheduled) WHERE schedule_id IS NOT NULL;
        CREATE TABLE ds_schedules (
            id TEXT PRIMARY KEY,
            workflow TEXT NOT NULL,
            definition TEXT NOT NULL,
            metadata TEXT,
            paused INTEGER NOT NULL,
            note TEXT,
            code_defined INTEGER NOT NULL,
            created INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            spec_since INTEGER NOT NULL,
            version INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            remaining INTEGER,
            runs INTEGER NOT NULL DEFAULT 0,
            succeeded INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            missed INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            dropped INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
        CREATE INDEX ds_schedules_seq ON ds_schedules (seq);
        CREATE INDEX ds_schedules_workflow ON ds_schedules (workflow, id);
        """,
        // Lists by status and by metadata read their index in list order: a status index, and each metadata pair
        // carries its run's instant. The status index leaves out running runs (few, and in the lease index) and
        // succeeded ones (most ended runs, found densely in list order), so a run that succeeds costs it one entry,
        // written when the run is added and taken out when it is claimed.
        """
        ALTER TABLE ds_run_metadata ADD COLUMN scheduled INTEGER NOT NULL DEFAULT 0;
        UPDATE ds_run_metadata SET scheduled = (SELECT r.scheduled FROM ds_runs r WHERE r.id = ds_run_metadata.run_id);
        DROP INDEX ds_run_metadata_value;
        CREATE INDEX ds_run_metadata_list ON ds_run_metadata (key, value, scheduled);
        CREATE INDEX ds_runs_status ON ds_runs (status, scheduled) WHERE status <> 1 AND status <> 2;
        """,
        // The metadata pairs as one tree, in list order, instead of a table by run and an index: each pair inserted
        // costs one tree insertion, not two and a foreign-key check. The store inserts a run's pairs itself (a trigger
        // on insert would cost far more than the insertion); triggers remove and move them with their run, whichever
        // statement deletes the run or changes its instant, finding them from the run's metadata as stored.
        """
        CREATE TABLE ds_run_pairs (
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            scheduled INTEGER NOT NULL,
            run_id BLOB NOT NULL,
            PRIMARY KEY (key, value, scheduled, run_id)) WITHOUT ROWID;
        INSERT INTO ds_run_pairs (key, value, scheduled, run_id) SELECT key, value, scheduled, run_id FROM ds_run_metadata;
        DROP INDEX ds_run_metadata_list;
        DROP TABLE ds_run_metadata;
        CREATE TRIGGER ds_runs_pairs_delete AFTER DELETE ON ds_runs WHEN old.metadata IS NOT NULL BEGIN
            DELETE FROM ds_run_pairs WHERE run_id = old.id AND scheduled = old.scheduled
                AND (key, value) IN (SELECT key, value FROM json_each(old.metadata));
        END;
        CREATE TRIGGER ds_runs_pairs_move AFTER UPDATE OF scheduled ON ds_runs WHEN old.metadata IS NOT NULL AND new.scheduled <> old.scheduled BEGIN
            UPDATE ds_run_pairs SET scheduled = new.scheduled WHERE run_id = old.id AND scheduled = old.scheduled
                AND (key, value) IN (SELECT key, value FROM json_each(old.metadata));
        END;
        """,
    ];

    public static int Latest => Migrations.Length;

    /// <summary>The tables, indexes and triggers a file at <paramref name="version"/> has (what its migrations created).</summary>
    public static IReadOnlyList<string> ObjectsAt(int version)
    {
        var objects = new List<string>();
        foreach (string sql in Migrations.Take(version))
        {
            foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(sql, @"(CREATE|DROP) (?:TABLE|INDEX|TRIGGER) (\w+)"))
            {
                if (m.Groups[1].Value == "CREATE")
                {
                    objects.Add(m.Groups[2].Value);
                }
                else
                {
                    objects.Remove(m.Groups[2].Value);
                }
            }
        }

        return objects;
    }

    public const string RunColumns =
        "id, workflow, kind, idem_key, scheduled, due, status, attempt, input, metadata, created, started, completed, error_type, error_message, trace_parent, schedule_id, overlap";

    /// <summary><see cref="RunColumns"/> with a null in place of the input (for lists, which leave inputs out).</summary>
    public const string RunColumnsWithoutInput =
        "id, workflow, kind, idem_key, scheduled, due, status, attempt, NULL AS input, metadata, created, started, completed, error_type, error_message, trace_parent, schedule_id, overlap";

    public const string ScheduleColumns =
        "id, workflow, definition, metadata, paused, note, code_defined, created, updated, spec_since, version, seq, deleted, remaining, runs, succeeded, failed, missed, skipped, dropped";
}
