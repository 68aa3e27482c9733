using System.Data.Common;
using Akka.Actor.Setup;
using Akka.Persistence.Sql.Config;
using LinqToDB;
using Lockstep.Replication.Claims;
using Microsoft.Data.Sqlite;

namespace Lockstep.Actors.Node;

/// <summary>
/// How the Akka journal, snapshot store and read journal connect to the shared storage. For SQLite, the file the
/// nodes of a local cluster share is put in WAL mode (readers stop blocking writers, a commit is one append), and
/// every connection waits for a busy file in SQLite's own busy handler. Without that, Microsoft.Data.Sqlite
/// answers each "database is locked" by sleeping 150 ms before it tries again, so three processes writing
/// at once queued in 150 ms steps: a create of 1,000 VMs took over 150 s, and shards whose remember-entities
/// write waited past their 5 s limit restarted (docs/benchmarks.md, "Many VMs on three nodes").
/// </summary>
public static class JournalConnections
{
    /// <summary>As long as Microsoft.Data.Sqlite's own limit (the journal's "Default Timeout=30").</summary>
    private const int BusyTimeoutMs = 30_000;

    /// <summary>The setup that gives the persistence plugins their connections; null for PostgreSQL (row locks, no file lock).</summary>
    public static Setup? For(JournalLocation journal)
    {
        if (journal.Kind != JournalKind.Sqlite) return null;
        UseWal(journal.Target);
        var (provider, connection) = journal.Persistence;
        var options = new DataOptions()
            .UseConnectionString(provider, connection)
            .UseAfterConnectionOpened(WaitWhenBusy, (opened, cancel) => WaitWhenBusyAsync(opened, cancel));
        return new DataOptionsSetup(options);
    }

    /// <summary>WAL is a property of the file: set once, before any node's journal opens it (every node does it; it is idempotent).</summary>
    private static void UseWal(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, DefaultTimeout = 30, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMs}; PRAGMA journal_mode = WAL;";
        command.ExecuteNonQuery();
    }

    private static void WaitWhenBusy(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMs}";
        command.ExecuteNonQuery();
    }

    private static async Task WaitWhenBusyAsync(DbConnection connection, CancellationToken cancel)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMs}";
        await command.ExecuteNonQueryAsync(cancel);
    }
}
