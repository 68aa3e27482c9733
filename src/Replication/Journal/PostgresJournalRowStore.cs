using System.Data.Common;
using Npgsql;

namespace Lockstep.Replication.Journal;

/// <summary>The journal table in the cluster's PostgreSQL database.</summary>
public sealed class PostgresJournalRowStore(string connectionString) : SqlJournalRowStore("journal-rows", '@', "true", "false")
{
    protected override DbConnection Open()
    {
        var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        return connection;
    }
}
