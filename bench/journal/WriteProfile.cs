using System.Diagnostics;
using Akka.Actor;
using Lockstep.Actors.Executors;
using Microsoft.Data.Sqlite;

namespace Lockstep.Bench.Journal;

/// <summary>
/// What one durable commit's time consists of, one write at a time as a durable VM makes them (one in flight):
/// the event's serialization (the node's serializer for it), the plugin's write (persist call to confirmation, and the
/// round trip through the VM's journal actor), through the SQL plugin and through the VMs' log writers' own (DirectSqlJournal,
/// into the same table), and the floor: a bare SQLite insert and commit of a row that size, on a
/// connection kept open and on one opened per commit (pooled, as the plugin opens one per write).
/// </summary>
internal static class WriteProfile
{
    public static async Task<int> Run(string hocon, int bytes, int count, string[] overrides)
    {
        string connection = BenchJournal.SqliteFile("temp", "journal-profile-");
        var payload = new byte[bytes];
        Random.Shared.NextBytes(payload);
        byte[] serialized = [];
        // The SQL plugin's own write path first, then the VMs' log writers' (DirectSqlJournal), alternating, same file.
        for (int round = 0; round < 2; round++)
        {
            foreach (var (name, plugin) in new[] { ($"Akka.Persistence.Sql{string.Concat(overrides.Select(o => ", " + o))}", ""), ("DirectSqlJournal", "lockstep.direct-sql-journal") })
            {
                var system = ActorSystem.Create("journal-profile", BenchJournal.Config(hocon, connection, "SQLite.MS", overrides, plugin));
                try
                {
                    var batch = new VmLogJournal.LogBatch(0, 1, 0, payload);
                    var serializer = system.Serialization.FindSerializerFor(batch);
                    serialized = serializer.ToBinary(batch);
                    if (round == 0 && plugin == "")
                    {
                        var serialize = Time(count, () => serializer.ToBinary(batch));
                        Console.WriteLine($"event: {bytes} B of log -> {serialized.Length} B by {serializer.GetType().Name}; serialize p50 {serialize.P50:F3} ms");
                    }
                    var (writeMs, roundTrip) = await Commits(system, payload, count);
                    Console.WriteLine($"{name} (one write in flight): persist to confirmation p50 {P50(writeMs):F3} ms, p99 {P99(writeMs):F3} ms; " +
                        $"through the journal actor p50 {P50(roundTrip):F3} ms, p99 {P99(roundTrip):F3} ms");
                }
                finally
                {
                    await system.Terminate();
                }
            }
        }

        using var keep = new SqliteConnection(connection);
        keep.Open();
        Execute(keep, "CREATE TABLE bare (id INTEGER PRIMARY KEY, seq INTEGER, body BLOB)");
        long seq = 0;
        var kept = Time(count, () => Insert(keep, ++seq, serialized));
        var opened = Time(count, () =>
        {
            using var each = new SqliteConnection(connection);
            each.Open();
            Insert(each, ++seq, serialized);
        });
        Console.WriteLine($"bare SQLite insert + commit of {serialized.Length} B: p50 {kept.P50:F3} ms on an open connection, {opened.P50:F3} ms opening one (pooled) per commit");
        return 0;
    }

    /// <summary>One VM's log writer given one batch at a time: its write time (persist to confirmation) and the round trip.</summary>
    private static async Task<(List<double> WriteMs, List<double> RoundTrip)> Commits(ActorSystem system, byte[] payload, int count)
    {
        var committed = new Channel();
        var primary = system.ActorOf(Props.Create(() => new CommitListener(committed)));
        var journal = system.ActorOf(VmLogJournal.Props($"profile-{Guid.NewGuid():N}", primary, new Lockstep.Replication.Stats.LatencyHistogram()));
        await committed.Ready.Task.WaitAsync(TimeSpan.FromMinutes(1));
        var writeMs = new List<double>();
        var roundTrip = new List<double>();
        for (int i = 0; i < count + 50; i++)
        {
            var clock = Stopwatch.StartNew();
            committed.Next = new TaskCompletionSource<VmLogJournal.Committed>(TaskCreationOptions.RunContinuationsAsynchronously);
            journal.Tell(new VmLogJournal.LogBatch(i, i + 1, (ulong)i, payload));
            var done = await committed.Next.Task.WaitAsync(TimeSpan.FromSeconds(30));
            if (i < 50) continue; // warm-up
            roundTrip.Add(clock.Elapsed.TotalMilliseconds);
            writeMs.Add(done.WriteMs);
        }
        return (writeMs, roundTrip);
    }

    private static void Insert(SqliteConnection connection, long seq, byte[] body)
    {
        using var transaction = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = "INSERT INTO bare (seq, body) VALUES ($seq, $body)";
        insert.Parameters.AddWithValue("$seq", seq);
        insert.Parameters.AddWithValue("$body", body);
        insert.ExecuteNonQuery();
        transaction.Commit();
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static (double P50, double P99) Time(int count, Action action)
    {
        for (int i = 0; i < 50; i++) action();
        var times = new List<double>(count);
        for (int i = 0; i < count; i++)
        {
            long at = Stopwatch.GetTimestamp();
            action();
            times.Add(Stopwatch.GetElapsedTime(at).TotalMilliseconds);
        }
        return (P50(times), P99(times));
    }

    private static double P50(List<double> values) => values.Order().ElementAt(values.Count / 2);
    private static double P99(List<double> values) => values.Order().ElementAt(values.Count * 99 / 100);

    internal sealed class Channel
    {
        public TaskCompletionSource Ready { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource<VmLogJournal.Committed> Next { get; set; } = new();
    }

    /// <summary>Plays the primary: hands the journal's answers to the measuring loop.</summary>
    private sealed class CommitListener : ReceiveActor
    {
        public CommitListener(Channel channel)
        {
            Receive<VmLogJournal.Ready>(_ => channel.Ready.TrySetResult());
            Receive<VmLogJournal.Committed>(c => channel.Next.TrySetResult(c));
        }
    }
}
