namespace Durable.Scheduling.PostgreSql;

/// <summary>
/// The schema, as forward-only migrations (index i moves a schema from version i to i + 1), with the schema name
/// substituted for <c>{s}</c>. Instants are UTC ticks (<c>bigint</c>, the contract's precision); the one instant in the
/// database's own clock is <c>lease_db_expires</c>, which judges lease expiry between instances whose clocks differ.
/// Every claim and completion rewrites a row and each of its index entries (the status a claim changes is part of the
/// partial indexes), so indexes are few: due runs, running leases, time order, workflow, ended runs, and metadata for
/// the runs that have some. A list filtered by status or kind alone walks the time-order index.
/// </summary>
internal static class PostgreSqlSchema
{
    public const string Product = "Durable.Scheduling";

    private static readonly string[] s_migrations =
    [
        """
        CREATE TABLE {s}.ds_schema (
            id integer PRIMARY KEY CHECK (id = 1),
            product text NOT NULL,
            version integer NOT NULL);
        CREATE TABLE {s}.runs (
            id uuid PRIMARY KEY,
            workflow text NOT NULL,
            kind smallint NOT NULL,
            idem_key text NOT NULL,
            scheduled bigint NOT NULL,
            due bigint NOT NULL,
            status smallint NOT NULL,
            attempt integer NOT NULL,
            input text,
            metadata jsonb,
            created bigint NOT NULL,
            started bigint,
            completed bigint,
            error_type text,
            error_message text,
            trace_parent text,
            lease_token uuid,
            lease_expires bigint,
            lease_db_expires timestamptz,
            lease_owner text,
            CONSTRAINT runs_idem_key UNIQUE (idem_key));
        CREATE INDEX runs_due ON {s}.runs (due, id) WHERE status = 0;
        CREATE INDEX runs_lease ON {s}.runs (lease_expires) WHERE status = 1;
        CREATE INDEX runs_scheduled ON {s}.runs (scheduled, id);
        CREATE INDEX runs_workflow ON {s}.runs (workflow, scheduled, id);
        CREATE INDEX runs_ended ON {s}.runs (completed) WHERE status >= 2;
        CREATE INDEX runs_metadata ON {s}.runs USING gin (metadata jsonb_path_ops) WHERE metadata IS NOT NULL;
        CREATE TABLE {s}.watermarks (
            schedule text PRIMARY KEY,
            value bigint NOT NULL);
        INSERT INTO {s}.ds_schema (id, product, version) VALUES (1, 'Durable.Scheduling', 1);
        """,
        """
        ALTER TABLE {s}.runs ADD COLUMN schedule_id text, ADD COLUMN overlap smallint;
        CREATE INDEX runs_schedule ON {s}.runs (schedule_id, scheduled, id) WHERE schedule_id IS NOT NULL;
        CREATE TABLE {s}.schedules (
            id text PRIMARY KEY,
            workflow text NOT NULL,
            definition text NOT NULL,
            metadata jsonb,
            paused boolean NOT NULL,
            note text,
            code_defined boolean NOT NULL,
            created bigint NOT NULL,
            updated bigint NOT NULL,
            spec_since bigint NOT NULL,
            version bigint NOT NULL,
            seq bigint NOT NULL,
            deleted boolean NOT NULL,
            remaining bigint,
            runs bigint NOT NULL DEFAULT 0,
            succeeded bigint NOT NULL DEFAULT 0,
            failed bigint NOT NULL DEFAULT 0,
            missed bigint NOT NULL DEFAULT 0,
            skipped bigint NOT NULL DEFAULT 0,
            dropped bigint NOT NULL DEFAULT 0);
        CREATE INDEX schedules_seq ON {s}.schedules (seq);
        CREATE INDEX schedules_workflow ON {s}.schedules (workflow, id);
        """,
        // Schedule lists page in ordinal id order (COLLATE "C"), which an index in the database's own collation cannot
        // give: without these each page sorted every schedule.
        """
        CREATE INDEX schedules_id_c ON {s}.schedules (id COLLATE "C");
        DROP INDEX {s}.schedules_workflow;
        CREATE INDEX schedules_workflow ON {s}.schedules (workflow, id COLLATE "C");
        """,
    ];

    /// <summary>The newest schema version this package knows.</summary>
    public static int Latest => s_migrations.Length;

    /// <summary>The tables this store creates, at any version.</summary>
    public static readonly string[] Tables = ["ds_schema", "runs", "watermarks", "schedules"];

    /// <summary>The tables a schema at <paramref name="version"/> has.</summary>
    public static IEnumerable<string> TablesAt(int version) => version >= 2 ? Tables : Tables[..3];

    /// <summary>The migration from <paramref name="version"/> to the next, for schema <paramref name="schema"/> (quoted).</summary>
    public static string Migration(int version, string schema) => s_migrations[version].Replace("{s}", Quote(schema), StringComparison.Ordinal);

    /// <summary>An identifier quoted for SQL (names are validated to letters, digits and underscores before this).</summary>
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public const string RunColumns =
        "id, workflow, kind, idem_key, scheduled, due, status, attempt, input, metadata::text, created, started, completed, error_type, error_message, trace_parent, schedule_id, overlap";

    /// <summary><see cref="RunColumns"/> with a null in place of the input (lists leave inputs out).</summary>
    public const string RunColumnsWithoutInput =
        "id, workflow, kind, idem_key, scheduled, due, status, attempt, NULL::text, metadata::text, created, started, completed, error_type, error_message, trace_parent, schedule_id, overlap";

    public const string ScheduleColumns =
        "id, workflow, definition, metadata::text, paused, note, code_defined, created, updated, spec_since, version, seq, deleted, remaining, runs, succeeded, failed, missed, skipped, dropped";

    /// <summary><see cref="RunColumns"/> qualified by the table alias <c>r</c> (for statements that join).</summary>
    public static readonly string RunColumnsOfR = string.Join(", ", RunColumns.Split(", ").Select(c => "r." + c));
}
