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

    private readonly Lazy<BlockingCollection<Action>> _claimThread = new(StartClaimThread);

    protected abstract DbConnection Open();

    /// <summary>True for the provider's "row with this key exists" error.</summary>
    protected abstract bool IsDuplicateKey(DbException error);

    /// <summary>True when this caller now owns <paramref name="generation"/> of the VM; false when someone else got it first.</summary>
    public bool TryClaim(string vm, long generation, string owner)
    {
        using var connection = Open();
        using var command = Command(connection, "INSERT INTO lockstep_claims (vm, generation, owner, claimed_at) VALUES (@vm, @generation, @owner, @at)",
            ("vm", vm), ("generation", generation), ("owner", owner), ("at", DateTime.UtcNow.ToString("O")));
        try
        {
            command.ExecuteNonQuery();
            return true;
        }
        catch (DbException e) when (IsDuplicateKey(e))
        {
            return false;
        }
    }

    /// <summary>
    /// <see cref="TryClaim"/> off the caller's thread, riding out storage that cannot answer right now (a
    /// locked file, a dropped connection): without an answer nobody may go live, so it asks again with
    /// backoff until it gets one. Cancelling ends the wait with <see cref="OperationCanceledException"/>.
    /// The claim is written on this store's own thread, not the thread pool's: a failover's outputs wait for it, and on a
    /// loaded node the pool's queue (or its threads blocked in the journal's own storage waits) would delay it.
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
                return await OnClaimThread(() => TryClaim(vm, generation, owner), cancel).ConfigureAwait(false);
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
    /// Runs <paramref name="claim"/> on the claims thread, after what was queued before it. A caller that cancels before it
    /// runs gets <see cref="OperationCanceledException"/> and nothing is written; once it runs, its answer is awaited
    /// (a claim won must never go unused: nobody else could go live with that generation).
    /// The caller's continuation runs on the claims thread (no hop through the pool): keep it short.
    /// </summary>
    private Task<bool> OnClaimThread(Func<bool> claim, CancellationToken cancel)
    {
        var done = new TaskCompletionSource<bool>();
        _claimThread.Value.Add(() =>
        {
            if (cancel.IsCancellationRequested)
            {
                done.SetCanceled(cancel);
                return;
            }
            try
            {
                done.SetResult(claim());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        });
        return done.Task;
    }

    private static BlockingCollection<Action> StartClaimThread()
    {
        var queue = new BlockingCollection<Action>();
        new Thread(() =>
        {
            foreach (var work in queue.GetConsumingEnumerable()) work();
        }) { IsBackground = true, Name = "lockstep-claims" }.Start();
        return queue;
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
