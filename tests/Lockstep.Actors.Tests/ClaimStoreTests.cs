using Lockstep.Actors.Claims;
using Microsoft.Data.Sqlite;

namespace Lockstep.Actors.Tests;

/// <summary>The claims test-and-set on a real SQLite file.</summary>
public sealed class ClaimStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lockstep-claims-").FullName;

    [Fact]
    public void Claims_live_beside_the_journal_in_a_file_of_their_own()
    {
        var journal = JournalLocation.Parse($"sqlite:{Path.Combine(_folder, "lockstep.db")}");
        Assert.Equal(Path.Combine(_folder, "lockstep.claims.db"), journal.ClaimsTarget);
        var postgres = JournalLocation.Parse("postgres:Host=db;Database=lockstep");
        Assert.Equal(postgres.Target, postgres.ClaimsTarget);
    }

    [Fact]
    public void The_first_claim_of_a_generation_wins_and_a_locked_file_is_waited_out()
    {
        string path = Path.Combine(_folder, "lockstep.claims.db");
        var store = new SqliteClaimStore(path);
        Assert.True(store.TryClaim("vm", 1, "a"));
        Assert.False(store.TryClaim("vm", 1, "b"));
        Assert.Equal("a", store.OwnerOf("vm", 1));

        using var holder = new SqliteConnection($"Data Source={path};Pooling=False");
        holder.Open();
        Execute(holder, "BEGIN IMMEDIATE"); // as a process frozen in the middle of a write would
        var retries = 0;
        bool? won = null;
        var claim = new Thread(() => won = store.Claim("vm", 2, "b", () => false, _ => Interlocked.Increment(ref retries)));
        claim.Start();
        Assert.False(claim.Join(TimeSpan.FromSeconds(3)), "the claim returned while the file was locked");
        Assert.True(Volatile.Read(ref retries) > 0);
        Execute(holder, "ROLLBACK");
        Assert.True(claim.Join(TimeSpan.FromSeconds(10)), "the claim did not go through once the lock was released");
        Assert.True(won);
        Assert.Equal("b", store.OwnerOf("vm", 2));
        Assert.Equal(2, store.HighestGeneration("vm"));
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}
