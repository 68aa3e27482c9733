using System.Collections.Concurrent;
using System.Data.Common;
using Lockstep.Replication.Storage;
using Npgsql;

namespace Lockstep.Replication.Journal;

/// <summary>One event as the journal table holds it: the payload already serialized.</summary>
public sealed record JournalRow(string PersistenceId, long SequenceNr, byte[] Message, string Manifest, int SerializerId, string WriterUuid, long CreatedTicks);

/// <summary>
/// Writes events into the journal table that Akka.Persistence.Sql creates and reads (its default table mapping), on one
/// thread of its own with one connection kept open: every write queued while a transaction was under way goes into
/// the next one (group commit across all the writers of a node, one fsync for all), and deletes and reads run on the
/// same thread in queue order, so a read sees every write queued before it.
/// </summary>
/// <remarks>
/// Why not the plugin's own write: it passes each write through its queue stream, LinqToDB and a connection opened for
/// the write, with thread hops between; one durable commit took 0.7-1.0 ms that way and 0.4 ms through this store, against
/// 0.2-0.3 ms for the bare insert and commit on an open connection (bench/journal.sh profile), and a durable VM's answers wait for it.
/// The table is the plugin's, so its read journal (rebuilds, exports) reads these rows as its own; the plugin creates
/// it (auto-initialize) and this store only writes to it once <see cref="Start"/>'s wait says it exists.
/// </remarks>
public sealed class JournalRowStore : IDisposable
{
    /// <summary>As the plugin's connections wait (JournalConnections): the processes of a local cluster share the file's write lock.</summary>
    private const int SqliteBusyTimeoutMs = 30_000;

    private readonly BlockingCollection<Work> _queue = new();
    private readonly Thread _thread;
    private readonly JournalStatements _statements;
    private readonly Func<DbConnection> _open;
    private TimeSpan _tableWait;
    private long _transactions;
    private DbConnection? _connection;

    private JournalRowStore(JournalStatements statements, Func<DbConnection> open)
    {
        _statements = statements;
        _open = open;
        _thread = new Thread(Run) { IsBackground = true, Name = "journal-rows" };
    }

    public static JournalRowStore For(string provider, string connectionString) => provider switch
    {
        "sqlite" => Sqlite(connectionString),
        "postgres" => Postgres(connectionString),
        _ => throw new ArgumentException($"journal row store: provider must be sqlite or postgres, not '{provider}'"),
    };

    /// <summary>The journal table in the SQLite file the nodes of a local cluster share (WAL, as the node sets it).</summary>
    public static JournalRowStore Sqlite(string connectionString) =>
        new(JournalStatements.Sqlite, () => SqliteWaiting.Open(connectionString, SqliteBusyTimeoutMs));

    /// <summary>The journal table in the cluster's PostgreSQL database.</summary>
    public static JournalRowStore Postgres(string connectionString) => new(JournalStatements.Postgres, () =>
    {
        var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        return connection;
    });

    /// <param name="tableWait">How long the first statement waits for the plugin to create the journal table.</param>
    public void Start(TimeSpan tableWait)
    {
        _tableWait = tableWait;
        _thread.Start();
    }

    /// <summary>Write transactions committed so far (each holds every write that was waiting when it began).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>Queued; completes once the rows are committed (together with whatever else was waiting), or fails with the transaction.</summary>
    public Task Write(IReadOnlyList<JournalRow> rows) => Enqueue(new WriteWork(rows));

    public Task<long> HighestSequenceNr(string persistenceId) =>
        Enqueue(new StatementWork<long>(connection => _statements.HighestSequenceNr(connection, persistenceId)));

    /// <summary>The rows from <paramref name="from"/> to <paramref name="to"/> that are not deleted, in order, at most <paramref name="max"/>.</summary>
    public Task<IReadOnlyList<JournalRow>> Read(string persistenceId, long from, long to, long max) =>
        Enqueue(new StatementWork<IReadOnlyList<JournalRow>>(connection => _statements.Read(connection, persistenceId, from, to, max)));

    /// <summary>
    /// Deletes the rows up to <paramref name="to"/> as the plugin does: the highest of them stays, marked deleted, so that
    /// the log's highest sequence number survives for the next writer.
    /// </summary>
    public Task DeleteTo(string persistenceId, long to) =>
        Enqueue(new StatementWork<bool>(connection =>
        {
            using var transaction = connection.BeginTransaction();
            _statements.DeleteTo(connection, transaction, persistenceId, to);
            transaction.Commit();
            return true;
        }));

    public void Dispose()
    {
        _queue.CompleteAdding();
        if (_thread.IsAlive) _thread.Join(TimeSpan.FromSeconds(10));
        _connection?.Dispose();
    }

    private Task Enqueue(Work work)
    {
        try
        {
            _queue.Add(work);
        }
        catch (InvalidOperationException)
        {
            work.Fail(new ObjectDisposedException(nameof(JournalRowStore), "the journal row store is shut down"));
        }
        return work.Done;
    }

    private Task<T> Enqueue<T>(StatementWork<T> work) => (Task<T>)Enqueue((Work)work);

    private void Run()
    {
        if (WaitForTable() is { } missing)
        {
            foreach (var work in _queue.GetConsumingEnumerable()) work.Fail(missing);
            return;
        }
        var writes = new List<WriteWork>();
        foreach (var work in _queue.GetConsumingEnumerable())
        {
            if (work is not WriteWork first)
            {
                RunOne(work);
                continue;
            }
            // Group commit: every write queued meanwhile joins this transaction; anything else waits for the next turn.
            writes.Add(first);
            while (_queue.TryTake(out var next))
            {
                if (next is WriteWork write) writes.Add(write);
                else
                {
                    Commit(writes);
                    writes.Clear();
                    RunOne(next);
                    break;
                }
            }
            if (writes.Count > 0) Commit(writes);
            writes.Clear();
        }
    }

    /// <summary>Null once the table answers; else why not, after <see cref="_tableWait"/>.</summary>
    private Exception? WaitForTable()
    {
        var deadline = DateTime.UtcNow + _tableWait;
        while (true)
        {
            try
            {
                JournalStatements.ProbeTable(Connection());
                return null;
            }
            catch (DbException e)
            {
                Drop();
                if (DateTime.UtcNow > deadline || _queue.IsAddingCompleted)
                    return new InvalidOperationException($"the journal table is not there after {_tableWait.TotalSeconds:F0} s (the SQL journal plugin creates it): {e.Message}", e);
                Thread.Sleep(50);
            }
        }
    }

    private void Commit(List<WriteWork> writes)
    {
        try
        {
            CommitTogether(writes);
            foreach (var write in writes) write.Succeed();
        }
        catch (Exception e) when (writes.Count > 1 && e is DbException)
        {
            // One write may have broken the group (a sequence number taken, as by a stale writer of the same log): the
            // others must not fail with it (each failed write restarts its VM's journal writer), so each goes on its own.
            Drop();
            foreach (var write in writes) Commit([write]);
        }
        catch (Exception e)
        {
            Drop();
            foreach (var write in writes) write.Fail(e);
        }
    }

    private void CommitTogether(List<WriteWork> writes)
    {
        var connection = Connection();
        using (var transaction = connection.BeginTransaction())
        {
            foreach (var write in writes) _statements.Insert(connection, transaction, write.Rows);
            transaction.Commit();
        }
        Interlocked.Increment(ref _transactions);
    }

    private void RunOne(Work work)
    {
        try
        {
            work.Run(Connection());
        }
        catch (Exception e)
        {
            Drop();
            work.Fail(e);
        }
    }

    private DbConnection Connection() => _connection ??= _open();

    // After a failure the connection may be broken (a server gone, a file replaced): the next turn opens a new one.
    private void Drop()
    {
        try { _connection?.Dispose(); } catch (DbException) { }
        _connection = null;
    }

    private abstract class Work
    {
        public abstract Task Done { get; }
        public abstract void Run(DbConnection connection);
        public abstract void Fail(Exception cause);
    }

    private sealed class WriteWork(IReadOnlyList<JournalRow> rows) : Work
    {
        // Completed on this store's thread, and its continuation runs there: the journal's only hands the confirmation on
        // (a Tell), and a hop to the thread pool first cost 0.1 ms of each durable commit (bench/journal.sh profile).
        private readonly TaskCompletionSource _done = new();
        public IReadOnlyList<JournalRow> Rows { get; } = rows;
        public override Task Done => _done.Task;
        public override void Run(DbConnection connection) => throw new InvalidOperationException("writes are committed in groups");
        public void Succeed() => _done.TrySetResult();
        public override void Fail(Exception cause) => _done.TrySetException(cause);
    }

    /// <summary>A read or a delete: one statement's turn on the store's thread, between the write groups.</summary>
    private sealed class StatementWork<T>(Func<DbConnection, T> statement) : Work
    {
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public override Task Done => _done.Task;
        public override void Run(DbConnection connection) => _done.TrySetResult(statement(connection));
        public override void Fail(Exception cause) => _done.TrySetException(cause);
    }
}
