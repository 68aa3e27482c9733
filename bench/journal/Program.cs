using System.Diagnostics;
using System.Text;
using Akka.Actor;
using Lockstep.Actors.Executors;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using Lockstep.Bench.Journal;

// What the journal writes for many VMs (bench/journal.sh):
//   journal-bench checkpoints GUEST.elf
//     bytes and time of a checkpoint of a kv VM, the full snapshot every interval (before) next to the
//     chain of full checkpoints and increments (after), idle, with its store filled, and busy;
//   journal-bench writes HOCON-DIR VMS BATCHES BYTES sqlite|postgres CONNECTION [key=value ...]
//     (CONNECTION for sqlite: a file, or "temp" for a new one)
//     VMS journal actors (VmLogJournal, node.conf's journal settings, overridden by key=value under
//     akka.persistence.journal.sql) each writing BATCHES log batches of BYTES at once: time until all
//     rows are in; on PostgreSQL also how many transactions the server committed for them.
//   journal-bench profile HOCON-DIR BYTES COUNT [key=value ...]
//     what one durable commit of BYTES costs, one write at a time, on a new SQLite file (WriteProfile.cs).

return args.FirstOrDefault() switch
{
    "checkpoints" when args.Length == 2 => Checkpoints(File.ReadAllBytes(args[1])),
    "profile" when args.Length >= 4 => await WriteProfile.Run(args[1], int.Parse(args[2]), int.Parse(args[3]), args[4..]),
    "writes" when args.Length >= 7 => await Writes(args[1], int.Parse(args[2]), int.Parse(args[3]), int.Parse(args[4]), args[5], args[6], args[7..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: journal-bench checkpoints GUEST.elf | writes HOCON-DIR VMS BATCHES BYTES sqlite|postgres CONNECTION [key=value ...]");
    return 2;
}

static int Checkpoints(byte[] image)
{
    const int Intervals = 30;
    Console.WriteLine($"kv VM, 16 MiB RAM; {Intervals} checkpoint intervals per case; today: a full snapshot every interval");
    Console.WriteLine($"{"case",-40} {"today B/interval",16} {"chain B/interval",16} {"ratio",7} {"full ms",8} {"incr ms",8}  (median capture times; fulls every 10th or when increments outgrow half a full)");
    Case("idle (booted, no requests)", image, fill: 0, perInterval: 0);
    Case("idle, store filled (4096 keys x 1000 B)", image, fill: 4096, perInterval: 0);
    Case("store filled, 30 requests per interval", image, fill: 4096, perInterval: 30);
    Case("store filled, 1000 requests per interval", image, fill: 4096, perInterval: 1000);
    return 0;
}

static void Case(string name, byte[] image, int fill, int perInterval)
{
    const int Intervals = 30;
    var inputs = new LiveInputs();
    var machine = new Machine(MemoryMap.DefaultRamSize, inputs);
    ElfLoader.Load(machine, image);
    var random = new Random(1);
    Serve(machine, inputs, Enumerable.Range(0, fill).Select(i => $"f{i} PUT key{i} {new string((char)('a' + i % 26), 1000)}"));
    var chain = new CheckpointChain();
    long todayBytes = 0, chainBytes = 0;
    var todayMs = new List<double>();
    var incrementMs = new List<double>();
    int fulls = 0;
    int requests = 0;
    for (int interval = 0; interval < Intervals; interval++)
    {
        Serve(machine, inputs, Enumerable.Range(0, interval == 0 ? 0 : perInterval)
            .Select(_ => $"r{requests++} PUT key{random.Next(Math.Max(fill, 1))} {new string('x', 10 + random.Next(900))}"));
        var clock = Stopwatch.StartNew();
        todayBytes += MachineSnapshot.CaptureFull(machine).Length;
        double today = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        var checkpoint = chain.Capture(machine);
        if (checkpoint.IsFull) fulls++;
        else incrementMs.Add(clock.Elapsed.TotalMilliseconds);
        todayMs.Add(today);
        chainBytes += checkpoint.Bytes.Length;
    }
    double before = todayBytes / (double)Intervals, after = chainBytes / (double)Intervals;
    Console.WriteLine($"{name,-40} {before,16:N0} {after,16:N0} {before / after,6:F1}x {Median(todayMs),8:F2} {Median(incrementMs),8:F2}  {fulls} full of {Intervals}");
}

static void Serve(Machine machine, LiveInputs inputs, IEnumerable<string> requests)
{
    int queued = 0;
    foreach (string request in requests)
    {
        inputs.Deliver(5, Encoding.ASCII.GetBytes(request));
        if (++queued % 64 == 0) RunIdle(machine, inputs); // the guest's receive queue is bounded
    }
    RunIdle(machine, inputs);
}

static void RunIdle(Machine machine, LiveInputs inputs)
{
    for (var reason = machine.Run(1_000_000); reason is not StopReason.Waiting || inputs.HasArrivals; reason = machine.Run(1_000_000))
    {
        if (reason is StopReason.Halted or StopReason.Faulted) throw new InvalidOperationException($"the guest stopped: {reason}");
        machine.Outputs.Clear();
    }
    machine.Outputs.Clear();
}

static double Median(List<double> values) => values.Count == 0 ? double.NaN : values.Order().ElementAt(values.Count / 2);

static async Task<int> Writes(string hocon, int vms, int batches, int bytes, string kind, string connection, string[] overrides)
{
    bool postgres = kind == "postgres";
    if (!postgres && kind != "sqlite") return Usage();
    if (!postgres) connection = BenchJournal.SqliteFile(connection, "journal-bench-");
    var config = BenchJournal.Config(hocon, connection, postgres ? "PostgreSQL.15" : "SQLite.MS", overrides);
    var system = ActorSystem.Create("journal-bench", config);
    try
    {
        var ready = new TaskCompletionSource();
        var committed = new TaskCompletionSource();
        var primary = system.ActorOf(Props.Create(() => new JournalWatcher(vms, (long)vms * batches, ready, committed)));
        var journals = Enumerable.Range(0, vms).Select(i => system.ActorOf(VmLogJournal.Props($"bench-{Guid.NewGuid():N}-{i}", primary, new Lockstep.Replication.Stats.LatencyHistogram()))).ToList();
        await ready.Task.WaitAsync(TimeSpan.FromMinutes(2));
        if (postgres) await Task.Delay(1500); // the recoveries' own transactions reach the counters first
        long rowsBefore = await Rows(postgres, connection);
        long commitsBefore = postgres ? await Commits(connection) : 0;
        var payload = new byte[bytes];
        Random.Shared.NextBytes(payload);
        var clock = Stopwatch.StartNew();
        for (int b = 0; b < batches; b++)
            foreach (var journal in journals)
                journal.Tell(new VmLogJournal.LogBatch(b, b + 1, (ulong)b, payload));
        // Confirmed by the journals themselves: batches that wait while a write is under way are joined into one row.
        await committed.Task.WaitAsync(TimeSpan.FromMinutes(5));
        double seconds = clock.Elapsed.TotalSeconds;
        long rows = await Rows(postgres, connection) - rowsBefore;
        int events = vms * batches;
        Console.WriteLine($"{kind}, {vms} VMs x {batches} batches of {bytes} B ({string.Join(' ', overrides.DefaultIfEmpty("node.conf as is"))}): " +
            $"{seconds:F2} s, {events / seconds:N0} batches/s, {events * (double)bytes / seconds / 1048576:F1} MiB/s; {rows} rows ({events / (double)Math.Max(rows, 1):F1} batches per row)");
        if (postgres)
        {
            await Task.Delay(1500); // the server publishes its counters about once a second
            long commits = await Commits(connection) - commitsBefore - 2;
            Console.WriteLine($"  {commits} transactions committed for {events} batches: {events / (double)Math.Max(commits, 1):F1} batches per transaction");
        }
        return 0;
    }
    finally
    {
        await system.Terminate();
    }
}

static async Task<long> Rows(bool postgres, string connection)
{
    if (postgres)
    {
        await using var pg = new Npgsql.NpgsqlConnection(connection);
        await pg.OpenAsync();
        await using var count = new Npgsql.NpgsqlCommand("SELECT COUNT(*) FROM journal", pg);
        return (long)(await count.ExecuteScalarAsync())!;
    }
    await using var sqlite = new Microsoft.Data.Sqlite.SqliteConnection(connection);
    await sqlite.OpenAsync();
    await using var command = sqlite.CreateCommand();
    command.CommandText = "SELECT COUNT(*) FROM journal";
    return (long)(await command.ExecuteScalarAsync())!;
}

static async Task<long> Commits(string connection)
{
    await using var pg = new Npgsql.NpgsqlConnection(connection);
    await pg.OpenAsync();
    await using var command = new Npgsql.NpgsqlCommand("SELECT pg_stat_force_next_flush(); SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()", pg);
    await using var reader = await command.ExecuteReaderAsync();
    await reader.NextResultAsync();
    await reader.ReadAsync();
    return reader.GetInt64(0);
}

/// <summary>Plays the primary of every journal actor: counts their Ready messages.</summary>
/// <summary>Stands for the VMs' primaries: counts the journals that are ready, then the batches they confirm committed.</summary>
internal sealed class JournalWatcher : ReceiveActor
{
    public JournalWatcher(int journals, long batches, TaskCompletionSource ready, TaskCompletionSource committed)
    {
        int seen = 0;
        long confirmed = 0;
        Receive<VmLogJournal.Ready>(_ =>
        {
            if (++seen == journals) ready.TrySetResult();
        });
        Receive<VmLogJournal.Committed>(c =>
        {
            if (!c.Checkpoint && (confirmed += c.Parts) >= batches) committed.TrySetResult();
        });
    }
}
