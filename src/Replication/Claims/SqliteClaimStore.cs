using System.Data.Common;
using Lockstep.Replication.Storage;
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

    protected override DbConnection Open() => SqliteWaiting.Open(_connectionString, BusyTimeoutMs);
}
