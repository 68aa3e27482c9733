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

    [Fact]
    public void A_group_answers_each_claim_for_itself()
    {
        var store = new SqliteClaimStore(Path.Combine(_folder, "lockstep.claims.db"));
        Assert.True(store.TryClaim("b", 1, "earlier"));
        bool[] won = store.TryClaimAll([("a", 1, "x"), ("b", 1, "x"), ("c", 1, "x"), ("a", 1, "y"), ("a", 2, "y")]);
        Assert.Equal([true, false, true, false, true], won);
        Assert.Equal("x", store.OwnerOf("a", 1));
        Assert.Equal("earlier", store.OwnerOf("b", 1));
        Assert.Equal("y", store.OwnerOf("a", 2));
    }

    [Fact]
    public async Task Claims_queued_together_are_written_together_and_answered_each()
    {
        string path = Path.Combine(_folder, "lockstep.claims.db");
        var store = new SqliteClaimStore(path);
        for (int i = 0; i < 40; i += 2) Assert.True(store.TryClaim($"vm{i}", 1, "earlier"));
        using var holder = new SqliteConnection($"Data Source={path};Pooling=False");
        holder.Open();
        Execute(holder, "BEGIN IMMEDIATE"); // the claims queue up behind the lock, then go in the groups the thread takes
        var claims = Enumerable.Range(0, 40).Select(i => store.ClaimAsync($"vm{i}", 1, "now", _ => { })).ToList();
        await Task.Delay(300);
        Execute(holder, "ROLLBACK");
        bool[] won = await Task.WhenAll(claims).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => i % 2 == 1), won);
        for (int i = 0; i < 40; i++) Assert.Equal(i % 2 == 1 ? "now" : "earlier", store.OwnerOf($"vm{i}", 1));
        // The first took the thread and waited on the lock; the 39 queued behind it went in one transaction, not in 39.
        Assert.True(store.GroupsWritten < 10, $"{store.GroupsWritten} transactions for 40 claims queued together");
    }

    [Fact]
    public Task Two_stores_on_one_file_never_both_win_a_claim()
    {
        string path = Path.Combine(_folder, "lockstep.claims.db");
        return NeverBothWin(new SqliteClaimStore(path), new SqliteClaimStore(path), "race");
    }

    [Fact]
    public Task Two_stores_on_one_postgres_database_never_both_win_a_claim()
    {
        string? connection = Environment.GetEnvironmentVariable("LOCKSTEP_TEST_POSTGRES");
        Assert.False(string.IsNullOrWhiteSpace(connection),
            "LOCKSTEP_TEST_POSTGRES is not set: run ./test.sh (it starts a private PostgreSQL server), or set it to a connection string");
        // Its own names: the database may hold an earlier run's claims.
        return NeverBothWin(new PostgresClaimStore(connection), new PostgresClaimStore(connection), $"race{Guid.NewGuid():N}");
    }

    /// <summary>Both stores claim the same 60 (vm, generation) pairs at once, in the groups their threads make: exactly one wins each.</summary>
    private static async Task NeverBothWin(ClaimStore one, ClaimStore other, string prefix)
    {
        var keys = Enumerable.Range(0, 60).Select(i => ($"{prefix}{i % 20}", (long)(i / 20 + 1))).ToList();
        var first = keys.Select(k => one.ClaimAsync(k.Item1, k.Item2, "one", _ => { })).ToList();
        var second = keys.Select(k => other.ClaimAsync(k.Item1, k.Item2, "other", _ => { })).ToList();
        bool[] a = await Task.WhenAll(first).WaitAsync(TimeSpan.FromSeconds(60));
        bool[] b = await Task.WhenAll(second).WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 0; i < keys.Count; i++)
        {
            Assert.True(a[i] ^ b[i], $"{keys[i]}: one won {a[i]}, the other won {b[i]}");
            Assert.Equal(a[i] ? "one" : "other", one.OwnerOf(keys[i].Item1, keys[i].Item2));
        }
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
