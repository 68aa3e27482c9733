using Lockstep.Replication.Claims;
using Microsoft.Data.Sqlite;

namespace Lockstep.Replication.Tests;

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
    public async Task The_first_claim_of_a_generation_wins_and_a_locked_file_is_waited_out()
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
        var claim = store.ClaimAsync("vm", 2, "b", _ => Interlocked.Increment(ref retries));
        await Task.WhenAny(claim, Task.Delay(TimeSpan.FromSeconds(3)));
        Assert.False(claim.IsCompleted, "the claim returned while the file was locked");
        Assert.True(Volatile.Read(ref retries) > 0);
        Execute(holder, "ROLLBACK");
        Assert.True(await claim.WaitAsync(TimeSpan.FromSeconds(10)), "the claim did not go through once the lock was released");
        Assert.Equal("b", store.OwnerOf("vm", 2));
        Assert.Equal((2L, (string?)"b"), await store.NewestClaimAsync("vm"));

        // A caller that no longer needs the answer stops waiting, and nothing is claimed for it.
        Execute(holder, "BEGIN IMMEDIATE");
        using var cancel = new CancellationTokenSource();
        var abandoned = store.ClaimAsync("vm", 3, "c", _ => { }, cancel.Token);
        await Task.Delay(200);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Execute(holder, "ROLLBACK");
        Assert.Null(store.OwnerOf("vm", 3));
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
