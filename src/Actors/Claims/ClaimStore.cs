using Microsoft.Data.Sqlite;

namespace Lockstep.Actors.Claims;

/// <summary>
/// The atomic test-and-set that decides who may run a VM live without a partner. A claim is a
/// row keyed by (vm, generation) in the shared SQLite file: the first insert wins, every later
/// one fails on the key. Kept out of the Akka journal so lost races never trip its circuit breaker.
/// </summary>
public sealed class ClaimStore
{
    private readonly string _connectionString;

    public ClaimStore(string databasePath)
    {
        _connectionString = new SqliteConnectionStringBuilder { DataSource = databasePath, DefaultTimeout = 5 }.ToString();
        using var connection = Open();
        Execute(connection, "PRAGMA journal_mode=WAL;");
        Execute(connection, """
            CREATE TABLE IF NOT EXISTS lockstep_claims (
                vm TEXT NOT NULL, generation INTEGER NOT NULL, owner TEXT NOT NULL, claimed_at TEXT NOT NULL,
                PRIMARY KEY (vm, generation));
            """);
    }

    /// <summary>True when this caller now owns <paramref name="generation"/> of the VM; false when someone else got it first.</summary>
    public bool TryClaim(string vm, long generation, string owner)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO lockstep_claims (vm, generation, owner, claimed_at) VALUES ($vm, $generation, $owner, $at)";
        command.Parameters.AddWithValue("$vm", vm);
        command.Parameters.AddWithValue("$generation", generation);
        command.Parameters.AddWithValue("$owner", owner);
        command.Parameters.AddWithValue("$at", DateTime.UtcNow.ToString("O"));
        try
        {
            command.ExecuteNonQuery();
            return true;
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 19) // SQLITE_CONSTRAINT: the row exists
        {
            return false;
        }
    }

    public string? OwnerOf(string vm, long generation)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT owner FROM lockstep_claims WHERE vm = $vm AND generation = $generation";
        command.Parameters.AddWithValue("$vm", vm);
        command.Parameters.AddWithValue("$generation", generation);
        return command.ExecuteScalar() as string;
    }

    /// <summary>The newest generation anyone has claimed for the VM (0 if none).</summary>
    public long HighestGeneration(string vm)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(MAX(generation), 0) FROM lockstep_claims WHERE vm = $vm";
        command.Parameters.AddWithValue("$vm", vm);
        return Convert.ToInt64(command.ExecuteScalar());
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
