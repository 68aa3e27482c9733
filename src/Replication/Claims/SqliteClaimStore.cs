using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Lockstep.Replication.Claims;

/// <summary>Claims in a SQLite file that the nodes of a local cluster share (beside their journal file).</summary>
public sealed class SqliteClaimStore : ClaimStore
{
    private const int BusyTimeoutMs = 2_000;
    private readonly string _connectionString;

    public SqliteClaimStore(string databasePath)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = databasePath, DefaultTimeout = 2 }.ToString();
        // WAL is set once on the file: readers stop blocking writers, and the journal gets faster too.
        Initialize("PRAGMA journal_mode=WAL", CreateTable);
    }

    protected override DbConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // SQLite's own busy wait (short sleeps, the lock taken as soon as it is free) instead of Microsoft.Data.Sqlite's
        // 150 ms steps: a node's worth of takeovers claiming at once (62 in bench/scale.sh 100) waited up to 6.6 s in
        // those steps, "database is locked" after each 2 s, with the VMs down meanwhile.
        using var wait = connection.CreateCommand();
        wait.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMs}";
        wait.ExecuteNonQuery();
        return connection;
    }
}
