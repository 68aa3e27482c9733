using System.Data.Common;
using Lockstep.Replication.Journal;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The VM log's journal writer on real databases: a table laid out as Akka.Persistence.Sql's journal (which creates it
/// in a node), rows written, read back, deleted the plugin's way, and the failures a store meets.
/// </summary>
public sealed class JournalRowStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lockstep-journal-rows-").FullName;
    private readonly List<JournalRowStore> _stores = [];

    private string SqliteFile => Path.Combine(_folder, "journal.db");
    private string ConnectionString => $"Data Source={SqliteFile};Default Timeout=30";

    [Fact]
    public async Task Rows_come_back_in_order_and_a_delete_keeps_the_highest_as_its_marker_on_sqlite()
    {
        CreateSqliteTable();
        await RowsAndDeletes(Started(JournalRowStore.Sqlite(ConnectionString)), "vm");
    }

    [Fact]
    public async Task Rows_come_back_in_order_and_a_delete_keeps_the_highest_as_its_marker_on_postgres()
    {
        string connection = Postgres();
        // Its own names: the database may hold an earlier run's rows.
        await RowsAndDeletes(Started(JournalRowStore.Postgres(connection)), $"vm{Guid.NewGuid():N}");
    }

    [Fact]
    public async Task A_write_that_fails_fails_whole_and_the_next_one_commits()
    {
        CreateSqliteTable();
        var store = Started(JournalRowStore.Sqlite(ConnectionString));
        await store.Write([Row("vm", 1)]);
        // The same sequence number again breaks the table's unique key: the error reaches the writer, and the row
        // written beside it in that call is not there either (one transaction).
        var duplicate = store.Write([Row("vm", 2), Row("vm", 1)]);
        var error = await Assert.ThrowsAsync<SqliteException>(() => duplicate);
        Assert.Contains("UNIQUE", error.Message);
        await store.Write([Row("vm", 2)]);
        Assert.Equal([1L, 2L], (await store.Read("vm", 1, long.MaxValue, long.MaxValue)).Select(r => r.SequenceNr));
    }

    [Fact]
    public async Task A_write_that_breaks_its_group_fails_alone_and_the_others_of_the_group_commit()
    {
        CreateSqliteTable();
        var store = Started(JournalRowStore.Sqlite(ConnectionString));
        await store.Write([Row("stale", 1)]);
        using var holder = new SqliteConnection($"Data Source={SqliteFile};Pooling=False");
        holder.Open();
        Execute(holder, "BEGIN IMMEDIATE"); // the writes below queue up and go as one group once it is free
        var first = store.Write([Row("vm1", 1)]);
        var stale = store.Write([Row("stale", 1)]); // a sequence number already taken: a second writer of that log
        var others = Enumerable.Range(2, 5).Select(i => store.Write([Row($"vm{i}", 1)])).ToList();
        await Task.Delay(300);
        Execute(holder, "ROLLBACK");
        await Assert.ThrowsAsync<SqliteException>(() => stale.WaitAsync(TimeSpan.FromSeconds(30)));
        await Task.WhenAll(others.Append(first)).WaitAsync(TimeSpan.FromSeconds(30));
        for (int i = 1; i <= 6; i++) Assert.Equal(1, await store.HighestSequenceNr($"vm{i}"));
    }

    [Fact]
    public async Task Writes_that_wait_for_a_locked_file_go_together_in_one_transaction_once_it_is_free()
    {
        CreateSqliteTable();
        var store = Started(JournalRowStore.Sqlite(ConnectionString));
        await store.Write([Row("warm-up", 1)]);
        long before = store.Transactions;
        using var holder = new SqliteConnection($"Data Source={SqliteFile};Pooling=False");
        holder.Open();
        Execute(holder, "BEGIN IMMEDIATE"); // another node's write under way
        var writes = Enumerable.Range(1, 50).Select(i => store.Write([Row($"vm{i % 5}", i)])).ToList();
        await Task.Delay(500);
        Assert.DoesNotContain(writes, w => w.IsCompleted);
        Execute(holder, "ROLLBACK");
        await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(30));
        // The first write's transaction was waiting for the lock; the other 49 queued behind it and went in the next one.
        Assert.InRange(store.Transactions - before, 1, 2);
        for (int v = 0; v < 5; v++)
            Assert.Equal(10, (await store.Read($"vm{v}", 1, long.MaxValue, long.MaxValue)).Count);
    }

    [Fact]
    public async Task Without_the_journal_table_every_call_fails_saying_so()
    {
        using (var empty = new SqliteConnection(ConnectionString)) empty.Open(); // a database, but the plugin never made its table
        var store = JournalRowStore.Sqlite(ConnectionString);
        _stores.Add(store);
        store.Start(TimeSpan.FromMilliseconds(300));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.Write([Row("vm", 1)]));
        Assert.Contains("journal table is not there", error.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.HighestSequenceNr("vm"));
    }

    [Fact]
    public async Task A_store_that_is_shut_down_refuses_work_instead_of_losing_it()
    {
        CreateSqliteTable();
        var store = Started(JournalRowStore.Sqlite(ConnectionString));
        await store.Write([Row("vm", 1)]);
        store.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Write([Row("vm", 2)]));
        Assert.Throws<ArgumentException>(() => JournalRowStore.For("mysql", "x"));
    }

    private static async Task RowsAndDeletes(JournalRowStore store, string vm)
    {
        // Two writers' rows queued at once (as two VMs on one node): each keeps its own order.
        await Task.WhenAll(store.Write([Row(vm, 1), Row(vm, 2), Row(vm, 3)]), store.Write([Row(vm + "-other", 1)]), store.Write([Row(vm, 4), Row(vm, 5)]));
        Assert.Equal(5, await store.HighestSequenceNr(vm));
        var all = await store.Read(vm, 1, long.MaxValue, long.MaxValue);
        Assert.Equal([1L, 2L, 3L, 4L, 5L], all.Select(r => r.SequenceNr));
        Assert.Equal(Row(vm, 3).Message, all[2].Message);
        Assert.Equal(("manifest", 42, "writer"), (all[2].Manifest, all[2].SerializerId, all[2].WriterUuid));
        Assert.Equal([2L, 3L], (await store.Read(vm, 2, 4, 2)).Select(r => r.SequenceNr));

        await store.DeleteTo(vm, 3);
        Assert.Equal([4L, 5L], (await store.Read(vm, 1, long.MaxValue, long.MaxValue)).Select(r => r.SequenceNr));
        await store.DeleteTo(vm, 5);
        Assert.Empty(await store.Read(vm, 1, long.MaxValue, long.MaxValue));
        Assert.Equal(5, await store.HighestSequenceNr(vm)); // the marker: the next writer goes on from 6, never reusing a number
        Assert.Equal(1, await store.HighestSequenceNr(vm + "-other"));
        Assert.Equal(0, await store.HighestSequenceNr(vm + "-never"));
    }

    private static JournalRow Row(string persistenceId, long sequenceNr) =>
        new(persistenceId, sequenceNr, [(byte)sequenceNr, 7, 7], "manifest", 42, "writer", 638_000_000_000_000_000 + sequenceNr);

    private JournalRowStore Started(JournalRowStore store)
    {
        _stores.Add(store);
        store.Start(TimeSpan.FromSeconds(10));
        return store;
    }

    // The columns and unique key of Akka.Persistence.Sql's journal table, as it creates it in a node.
    private void CreateSqliteTable()
    {
        using var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        Execute(connection, """
            CREATE TABLE journal (ordering INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, created INTEGER NOT NULL, deleted Bit NOT NULL,
              persistence_id NVarChar(255) NOT NULL, sequence_number INTEGER NOT NULL, message VarBinary NOT NULL,
              manifest NVarChar(500) NULL, identifier INTEGER NULL, writer_uuid NVarChar(128) NULL);
            CREATE UNIQUE INDEX journal_uq ON journal (persistence_id, sequence_number);
            """);
    }

    private static string Postgres()
    {
        string? connection = Environment.GetEnvironmentVariable("LOCKSTEP_TEST_POSTGRES");
        Assert.False(string.IsNullOrWhiteSpace(connection),
            "LOCKSTEP_TEST_POSTGRES is not set: run ./test.sh (it starts a private PostgreSQL server), or set it to a connection string");
        using var db = new NpgsqlConnection(connection);
        db.Open();
        // The cluster tests' nodes made the table already when they ran first; else the same layout.
        Execute(db, """
            CREATE TABLE IF NOT EXISTS journal (ordering bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, created bigint NOT NULL,
              deleted boolean NOT NULL, persistence_id text NOT NULL, sequence_number bigint NOT NULL, message bytea NOT NULL,
              manifest text, identifier integer, writer_uuid text, CONSTRAINT journal_uq UNIQUE (persistence_id, sequence_number))
            """);
        return connection!;
    }

    private static void Execute(DbConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        foreach (var store in _stores) store.Dispose();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_folder, true); } catch (IOException) { }
    }
}
