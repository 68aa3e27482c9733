using System.Data.Common;
using Lockstep.Replication.Storage;

namespace Lockstep.Replication.Journal;

/// <summary>The journal table in the SQLite file the nodes of a local cluster share (WAL, as the node sets it).</summary>
public sealed class SqliteJournalRowStore(string connectionString) : SqlJournalRowStore("journal-rows", '$', "1", "0")
{
    /// <summary>As the plugin's connections wait (JournalConnections): three processes share the file's write lock.</summary>
    private const int BusyTimeoutMs = 30_000;

    protected override DbConnection Open() => SqliteWaiting.Open(connectionString, BusyTimeoutMs);
}
