using Microsoft.Data.Sqlite;

namespace Lockstep.Replication.Storage;

/// <summary>Connections to a SQLite file that the nodes of a local cluster share.</summary>
public static class SqliteWaiting
{
    /// <summary>
    /// Opens a connection that waits for a locked file in SQLite's own busy handler (short sleeps, the lock taken as soon
    /// as it is free) instead of Microsoft.Data.Sqlite's 150 ms steps: a node's worth of takeovers claiming at once (62 in
    /// bench/scale.sh 100) waited up to 6.6 s in those steps, with the VMs down meanwhile.
    /// </summary>
    public static SqliteConnection Open(string connectionString, int busyTimeoutMs)
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var wait = connection.CreateCommand();
        wait.CommandText = $"PRAGMA busy_timeout = {busyTimeoutMs}";
        wait.ExecuteNonQuery();
        return connection;
    }
}
