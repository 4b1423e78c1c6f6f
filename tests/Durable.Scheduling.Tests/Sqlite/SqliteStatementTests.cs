using Durable.Scheduling.Sqlite;
using FluentAssertions;
using Microsoft.Data.Sqlite;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Sqlite;

/// <summary>The writer's statements bound by position: values arrive whole (U+0000 too), ids as Microsoft.Data.Sqlite writes them, errors as it raises them.</summary>
[TestFixture]
public sealed class SqliteStatementTests
{
    private SqliteConnection _connection = null!;

    [SetUp]
    public void Open()
    {
        _connection = new SqliteConnection("Data Source=:memory:");
        _connection.Open();
        using var create = _connection.CreateCommand();
        create.CommandText = "CREATE TABLE t (id BLOB PRIMARY KEY, text TEXT, number INTEGER, maybe INTEGER) WITHOUT ROWID";
        create.ExecuteNonQuery();
    }

    [TearDown]
    public void Close() => _connection.Dispose();

    [Test]
    public void Values_AreStoredWhole_AndEqualWhatTheStoresOtherCommandsBind()
    {
        var id = Guid.NewGuid();
        string text = "é'; DROP TABLE t; -- \0 after a NUL " + new string('ü', 400) + "\U0001F600"; // past the stack buffer, multi-byte
        using (var insert = new SqliteStatement(_connection, "INSERT INTO t (id, text, number, maybe) VALUES ($id, $text, $number, $maybe) RETURNING id, text, number, maybe"))
        {
            insert.Bind("$id", id);
            insert.Bind("$text", text);
            insert.Bind("$number", long.MinValue);
            insert.Bind("$maybe", (long?)null);
            insert.Step().Should().BeTrue();
            insert.Guid(0).Should().Be(id);
            insert.Text(1).Should().Be(text, "whole, U+0000 and what follows it too");
            insert.Int64(2).Should().Be(long.MinValue);
            insert.IsNull(3).Should().BeTrue();
            insert.ColumnCount.Should().Be(4);
            insert.Step().Should().BeFalse();
            insert.Reset();
        }

        using var read = _connection.CreateCommand();
        read.CommandText = "SELECT count(*) FROM t WHERE id = $id AND text = CAST($text AS TEXT)";
        read.Parameters.AddWithValue("$id", id.ToByteArray());
        read.Parameters.AddWithValue("$text", SqliteRows.Text(text));
        read.ExecuteScalar().Should().Be(1L, "the id's bytes are those a SqliteCommand binds, and the text those of its value for such a text");
        read.Parameters["$text"].Value = text;
        read.ExecuteScalar().Should().Be(0L, "bound as a plain string, the provider writes it only up to the U+0000 (why SqliteRows.Text exists)");

        // A short string keeps its U+0000 (as a SqliteCommand keeps it).
        using var small = new SqliteStatement(_connection, "INSERT INTO t (id, text) VALUES ($id, $text) RETURNING text");
        small.Bind("$id", Guid.NewGuid());
        small.Bind("$text", "a\0b");
        small.Step().Should().BeTrue();
        small.Text(0).Should().Be("a\0b");
        small.Reset();
        read.Parameters["$text"].Value = "a\0b";
        read.CommandText = "SELECT count(*) FROM t WHERE text = CAST($text AS TEXT)";
        read.Parameters.RemoveAt("$id");
        read.ExecuteScalar().Should().Be(1L);
    }

    [Test]
    public void AFailure_IsASqliteException_AndTheStatementRunsAgainAfterIt()
    {
        using var insert = new SqliteStatement(_connection, "INSERT INTO t (id, text, number) VALUES ($id, $text, 1)");
        var id = Guid.NewGuid();
        insert.Bind("$id", id);
        insert.Bind("$text", "first");
        insert.Execute().Should().Be(1);
        insert.Bind("$id", id);
        insert.Bind("$text", "again");
        FluentActions.Invoking(insert.Execute).Should().Throw<SqliteException>().Which.SqliteErrorCode.Should().Be(19, "a constraint failed");
        insert.Bind("$id", Guid.NewGuid());
        insert.Bind("$text", "other");
        insert.Execute().Should().Be(1, "reset after the failure");
        FluentActions.Invoking(() => insert.Bind("$absent", 1L)).Should().Throw<ArgumentException>().WithMessage("*$absent*");
    }
}
