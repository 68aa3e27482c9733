using System.Collections.Concurrent;
using System.Data.Common;

namespace Lockstep.Replication.Claims;

/// <summary>
/// The atomic test-and-set that decides who may run a VM live without a partner. A claim is a
/// row keyed by (vm, generation) in the shared database: the first insert wins, every later one
/// fails on the key. Kept out of the Akka journal so lost races never trip its circuit breaker.
/// </summary>
public abstract class ClaimStore
{
    protected const string CreateTable = """
        CREATE TABLE IF NOT EXISTS lockstep_claims (
            vm TEXT NOT NULL, generation BIGINT NOT NULL, owner TEXT NOT NULL, claimed_at TEXT NOT NULL,
            PRIMARY KEY (vm, generation))
        """;

    /// <summary>The claim store that lives beside a node's journal (--journal sqlite:PATH or postgres:CONNECTION).</summary>
    public static ClaimStore ForJournal(JournalLocation journal) => journal.Kind switch
    {
        JournalKind.Sqlite => new SqliteClaimStore(journal.ClaimsTarget),
        _ => new PostgresClaimStore(journal.ClaimsTarget),
    };

    private readonly Lazy<BlockingCollection<PendingClaim>> _claimThread;

    private long _groups;

    protected ClaimStore() => _claimThread = new(StartClaimThread);

    /// <summary>Transactions the claims thread has written (each a group of the claims queued at that moment), for tests and figures.</summary>
    public long GroupsWritten => Interlocked.Read(ref _groups);

    protected abstract DbConnection Open();

    /// <summary>One caller's claim waiting on the claims thread for the group it will be written in.</summary>
    private sealed record PendingClaim(string Vm, long Generation, string Owner, CancellationToken Cancel, TaskCompletionSource<bool> Done);

    /// <summary>True when this caller now owns <paramref name="generation"/> of the VM; false when someone else got it first.</summary>
    public bool TryClaim(string vm, long generation, string owner) => TryClaimAll([(vm, generation, owner)])[0];

    /// <summary>
    /// Several claims in one transaction (one commit, one fsync, for a node's worth of takeovers), each answered on its
    /// own: true where that caller now owns the generation, false where the row was there already (taken earlier, by
    /// another store, or by an earlier claim of the same group). A storage error fails the whole group: nothing of it is
    /// written, and the callers ask again.
    /// </summary>
    public bool[] TryClaimAll(IReadOnlyList<(string Vm, long Generation, string Owner)> claims)
    {
        var won = new bool[claims.Count];
        if (claims.Count == 0) return won;
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        string at = DateTime.UtcNow.ToString("O");
        for (int i = 0; i < claims.Count; i++)
        {
            var (vm, generation, owner) = claims[i];
            // Rows affected, not a key error: a lost claim must not abort the transaction the others of the group ride in.
            using var command = Command(connection,
                "INSERT INTO lockstep_claims (vm, generation, owner, claimed_at) VALUES (@vm, @generation, @owner, @at) ON CONFLICT DO NOTHING",
                ("vm", vm), ("generation", generation), ("owner", owner), ("at", at));
            command.Transaction = transaction;
            won[i] = command.ExecuteNonQuery() == 1;
        }
        transaction.Commit();
        return won;
    }

    /// <summary>
    /// <see cref="TryClaim"/> off the caller's thread, riding out storage that cannot answer right now (a
    /// locked file, a dropped connection): without an answer nobody may go live, so it asks again with
    /// backoff until it gets one. Cancelling ends the wait with <see cref="OperationCanceledException"/>.
    /// The claim is written on this store's own thread, not the thread pool's: a failover's outputs wait for it, and on a
    /// loaded node the pool's queue (or its threads blocked in the journal's own storage waits) would delay it. That thread
    /// writes every claim queued when it comes round in one transaction (<see cref="TryClaimAll"/>): a node's worth of
    /// takeovers claiming at once waits for one commit, not for one commit per VM in turn.
    /// </summary>
    /// <param name="retrying">Told each time storage failed to answer, before the next try.</param>
    public async Task<bool> ClaimAsync(string vm, long generation, string owner, Action<Exception> retrying, CancellationToken cancel = default)
    {
        var wait = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                return await OnClaimThread(vm, generation, owner, cancel).ConfigureAwait(false);
            }
            catch (DbException e)
            {
                retrying(e);
                await Task.Delay(wait, cancel).ConfigureAwait(false);
                if (wait < TimeSpan.FromSeconds(1)) wait *= 2;
            }
        }
    }

    /// <summary>
    /// Queues the claim for the claims thread's next group. A caller that cancels before its group is written gets
    /// <see cref="OperationCanceledException"/> and nothing is written for it; once written, its answer is awaited
    /// (a claim won must never go unused: nobody else could go live with that generation).
    /// The caller's continuation runs on the claims thread (no hop through the pool): keep it short.
    /// </summary>
    private Task<bool> OnClaimThread(string vm, long generation, string owner, CancellationToken cancel)
    {
        var pending = new PendingClaim(vm, generation, owner, cancel, new TaskCompletionSource<bool>());
        _claimThread.Value.Add(pending);
        return pending.Done.Task;
    }

    private BlockingCollection<PendingClaim> StartClaimThread()
    {
        var queue = new BlockingCollection<PendingClaim>();
        new Thread(() =>
        {
            var group = new List<PendingClaim>();
            foreach (var first in queue.GetConsumingEnumerable())
            {
                group.Clear();
                group.Add(first);
                while (queue.TryTake(out var next)) group.Add(next);
                WriteGroup(group);
            }
        }) { IsBackground = true, Name = "lockstep-claims" }.Start();
        return queue;
    }

    private void WriteGroup(List<PendingClaim> queued)
    {
        var group = new List<PendingClaim>(queued.Count);
        foreach (var pending in queued)
        {
            if (pending.Cancel.IsCancellationRequested) pending.Done.SetCanceled(pending.Cancel);
            else group.Add(pending);
        }
        if (group.Count == 0) return;
        bool[] won;
        Interlocked.Increment(ref _groups);
        try
        {
            won = TryClaimAll(group.Select(p => (p.Vm, p.Generation, p.Owner)).ToList());
        }
        catch (Exception e)
        {
            foreach (var pending in group) pending.Done.SetException(e);
            return;
        }
        for (int i = 0; i < group.Count; i++) group[i].Done.SetResult(won[i]);
    }

    /// <summary>The newest generation and who holds it, read off the caller's thread; (0, null) when nobody ever claimed.</summary>
    public Task<(long Generation, string? Owner)> NewestClaimAsync(string vm) => Task.Run(() =>
    {
        long generation = HighestGeneration(vm);
        return (generation, generation == 0 ? null : OwnerOf(vm, generation));
    });

    public string? OwnerOf(string vm, long generation)
    {
        using var connection = Open();
        using var command = Command(connection, "SELECT owner FROM lockstep_claims WHERE vm = @vm AND generation = @generation",
            ("vm", vm), ("generation", generation));
        return command.ExecuteScalar() as string;
    }

    /// <summary>The newest generation anyone has claimed for the VM (0 if none).</summary>
    public long HighestGeneration(string vm)
    {
        using var connection = Open();
        using var command = Command(connection, "SELECT COALESCE(MAX(generation), 0) FROM lockstep_claims WHERE vm = @vm", ("vm", vm));
        return Convert.ToInt64(command.ExecuteScalar());
    }

    protected static DbCommand Command(DbConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }
        return command;
    }

    protected void Initialize(params string[] statements)
    {
        using var connection = Open();
        foreach (string sql in statements)
        {
            using var command = Command(connection, sql);
            command.ExecuteNonQuery();
        }
    }
}
