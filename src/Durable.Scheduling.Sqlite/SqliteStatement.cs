using System.Buffers;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Durable.Scheduling.Sqlite;

/// <summary>
/// A statement of the writer prepared once and run many times through SQLite's own API (SQLitePCLRaw, which
/// Microsoft.Data.Sqlite itself runs on): values are bound by position (each name looked up once), text UTF-8 encoded on
/// the stack. For the writes done per run (insert, claim, completion), on the one writer thread that bounds the store:
/// Microsoft.Data.Sqlite looks every parameter up by name, converting the name to UTF-8, at every execution. Errors are
/// raised as Microsoft.Data.Sqlite raises them (<see cref="SqliteException"/>). Not thread-safe: the writer's only.
/// </summary>
internal sealed class SqliteStatement : SqliteRows.IRow, IDisposable
{
    private const int StackText = 512; // bytes of UTF-8 encoded on the stack; longer values take a pooled buffer

    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;
    private readonly Dictionary<string, int> _indexes = new(StringComparer.Ordinal);

    public SqliteStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        int rc = raw.sqlite3_prepare_v2(_db, sql, out _statement);
        SqliteException.ThrowExceptionForRC(rc, _db);
    }

    /// <summary>The position of a named parameter (looked up once).</summary>
    private int Index(string name)
    {
        if (!_indexes.TryGetValue(name, out int index))
        {
            index = raw.sqlite3_bind_parameter_index(_statement, name);
            if (index == 0)
            {
                throw new ArgumentException($"The statement has no parameter {name}.", nameof(name));
            }

            _indexes.Add(name, index);
        }

        return index;
    }

    public void Bind(string name, long value) => Check(raw.sqlite3_bind_int64(_statement, Index(name), value));

    public void Bind(string name, long? value)
    {
        if (value is { } v)
        {
            Bind(name, v);
        }
        else
        {
            Check(raw.sqlite3_bind_null(_statement, Index(name)));
        }
    }

    /// <summary>Binds a run id or token as the store keeps it (the 16 bytes of <see cref="Guid.ToByteArray()"/>).</summary>
    public void Bind(string name, Guid value)
    {
        Span<byte> bytes = stackalloc byte[16];
        value.TryWriteBytes(bytes);
        Check(raw.sqlite3_bind_blob(_statement, Index(name), bytes));
    }

    public void Bind(string name, string? value)
    {
        int index = Index(name);
        if (value is null)
        {
            Check(raw.sqlite3_bind_null(_statement, index));
            return;
        }

        int most = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = most > StackText ? ArrayPool<byte>.Shared.Rent(most) : null;
        try
        {
            Span<byte> buffer = rented ?? stackalloc byte[StackText];
            int length = Encoding.UTF8.GetBytes(value, buffer);
            Check(raw.sqlite3_bind_text(_statement, index, buffer[..length])); // whole, U+0000 too; copied by SQLite (transient)
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Runs the statement to its end and makes it ready for the next values.</summary>
    /// <returns>The rows it changed.</returns>
    public int Execute()
    {
        try
        {
            while (Step())
            {
            }

            return raw.sqlite3_changes(_db);
        }
        finally
        {
            Reset();
        }
    }

    /// <summary>Steps to the next row: false at the end. Call <see cref="Reset"/> when done (also after an exception).</summary>
    public bool Step()
    {
        int rc = raw.sqlite3_step(_statement);
        if (rc == raw.SQLITE_ROW)
        {
            return true;
        }

        if (rc != raw.SQLITE_DONE)
        {
            Check(rc); // the error of this step (the reset that follows reports it again)
        }

        return false;
    }

    /// <summary>Ends the current run of the statement and clears its values.</summary>
    public void Reset()
    {
        raw.sqlite3_reset(_statement);
        raw.sqlite3_clear_bindings(_statement);
    }

    public bool IsNull(int column) => raw.sqlite3_column_type(_statement, column) == raw.SQLITE_NULL;

    public long Int64(int column) => raw.sqlite3_column_int64(_statement, column);

    public string Text(int column) => raw.sqlite3_column_text(_statement, column).utf8_to_string();

    public Guid Guid(int column) => new(raw.sqlite3_column_blob(_statement, column));

    public int ColumnCount => raw.sqlite3_column_count(_statement);

    public void Dispose() => _statement.Dispose();

    private void Check(int rc) => SqliteException.ThrowExceptionForRC(rc, _db);
}
