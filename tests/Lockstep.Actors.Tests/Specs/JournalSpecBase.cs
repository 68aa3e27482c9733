using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Query;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.TestKit;
using Lockstep.Actors.Executors;
using Lockstep.Actors.Journal;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// The journal of one VM on a real SQLite file: a kv machine run the way a primary runs it (live
/// inputs recorded, cut into segments, checkpointed full and incrementally) writes through the real
/// journal actor; the rebuilder then builds the machine back from what the journal holds, and it must be
/// the machine that a replay of the log from boot gives (which never saw a checkpoint).
/// </summary>
public abstract class JournalSpecBase : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    protected const string Vm = "journaled";
    private readonly string _folder;
    private readonly TestProbe _primary;
    private readonly IActorRef _journal;

    /// <summary>The journal actor under test, and the probe that stands for its primary (it gets Ready, Committed, Failed).</summary>
    protected IActorRef Journal => _journal;
    protected TestProbe Primary => _primary;

    /// <summary>The SQLite files of the journal (the database and, while it is in use, its write-ahead log).</summary>
    protected IEnumerable<string> DatabaseFiles => Directory.EnumerateFiles(_folder, "journal.db*");

    /// <summary>
    /// Moves what the write-ahead log holds into the database file and empties the log (waiting for any writer). The
    /// store's plugin may still be writing after the journal actor stopped (the deletion of an old checkpoint it was
    /// asked for): a page moving between the two files while they are read one after the other is in neither copy read.
    /// </summary>
    protected void CheckpointWal() => RunOnFile("PRAGMA wal_checkpoint(TRUNCATE)");

    /// <summary>
    /// Bytes changed in the files behind SQLite's back are not seen by a connection that still holds the pages in its cache
    /// (a pooled one of the plugin's, back in the pool after the journal stopped): in WAL mode a connection keeps its cache
    /// while the log's index is unchanged. A write through SQLite changes it, so every connection reads the file again.
    /// </summary>
    protected void MakeOpenConnectionsRereadTheFile() => RunOnFile("PRAGMA user_version = 1");

    private void RunOnFile(string statement)
    {
        using var connection = OpenFile();
        using var command = connection.CreateCommand();
        command.CommandText = statement;
        command.ExecuteNonQuery();
    }

    /// <summary>A connection of the test's own (not pooled), waiting for the file's lock as the plugin's do.</summary>
    private Microsoft.Data.Sqlite.SqliteConnection OpenFile() =>
        Lockstep.Replication.Storage.SqliteWaiting.Open($"Data Source={Path.Combine(_folder, "journal.db")};Pooling=False", 30_000);

    /// <summary>Every blob of every table of the journal's file, as SQLite reads it now (on a connection of its own).</summary>
    protected List<byte[]> LiveBlobs()
    {
        using var connection = OpenFile();
        var tables = new List<string>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
            using var reader = list.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        var blobs = new List<byte[]>();
        foreach (string table in tables)
        {
            using var select = connection.CreateCommand();
            select.CommandText = $"SELECT * FROM \"{table}\"";
            using var reader = select.ExecuteReader();
            while (reader.Read())
                for (int column = 0; column < reader.FieldCount; column++)
                    if (!reader.IsDBNull(column) && reader.GetValue(column) is byte[] blob) blobs.Add(blob);
        }
        return blobs;
    }

    /// <summary>Stops the journal actor and lets go of every connection to its file, as a node that died would.</summary>
    protected void StopJournal()
    {
        Watch(_journal);
        _journal.Tell(PoisonPill.Instance);
        ExpectTerminated(_journal, TimeSpan.FromSeconds(20));
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    protected JournalSpecBase() : this(Directory.CreateTempSubdirectory("lockstep-journal-spec-").FullName) { }

    private JournalSpecBase(string folder) : base(ConfigFor(folder))
    {
        _folder = folder;
        _primary = CreateTestProbe();
        _journal = Sys.ActorOf(VmLogJournal.Props(Vm, _primary.Ref, new Lockstep.Replication.Stats.LatencyHistogram()), "journal");
        _primary.ExpectMsg<VmLogJournal.Ready>(TimeSpan.FromSeconds(20));
    }

    private static Config ConfigFor(string folder)
    {
        string connection = $"Data Source={Path.Combine(folder, "journal.db")};Default Timeout=30";
        return ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.actor.serializers.hyperion = "Akka.Serialization.HyperionSerializer, Akka.Serialization.Hyperion"
            akka.actor.serialization-bindings { "System.Object" = hyperion }
            akka.persistence.journal.plugin = "akka.persistence.journal.sql"
            akka.persistence.journal.sql { provider-name = "SQLite.MS", connection-string = "{{connection}}", auto-initialize = on }
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
            akka.persistence.snapshot-store.sql { provider-name = "SQLite.MS", connection-string = "{{connection}}", auto-initialize = on }
            akka.persistence.query.journal.sql { provider-name = "SQLite.MS", connection-string = "{{connection}}", write-plugin = "akka.persistence.journal.sql" }
            lockstep.vm-log.journal-plugin = "{{DirectSqlJournal.PluginId}}"
            """).WithFallback(DirectSqlJournal.Settings("sqlite", connection)).WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>A kv guest run live with its inputs recorded, as a primary loop runs it; every segment it cuts is kept.</summary>
    protected sealed class RecordedKv
    {
        private readonly EventRecorder _recorder = new();
        private readonly LiveInputs _inputs;
        private int _requests;

        public RecordedKv()
        {
            Machine = new Machine(MemoryMap.DefaultRamSize);
            ElfLoader.Load(Machine, SpecSupport.KvImage);
            _inputs = new LiveInputs(_recorder, Machine.LastMtime);
            Machine.SwitchInputs(_inputs);
        }

        public Machine Machine { get; }
        public List<LogSegment> Segments { get; } = [];
        public long EntryIndex => _recorder.NextSegmentStart;

        /// <summary>Serves <paramref name="count"/> requests that write the store, then cuts the log: one batch.</summary>
        public VmLogJournal.LogBatch Serve(int count)
        {
            for (int i = 0; i < count; i++, _requests++)
                _inputs.Deliver(9, System.Text.Encoding.ASCII.GetBytes($"{_requests} PUT key{_requests % 40} {new string((char)('a' + _requests % 26), 300 + _requests)}"));
            for (var reason = Machine.Run(200_000); reason is not StopReason.Waiting || _inputs.HasArrivals; reason = Machine.Run(200_000))
            {
                Assert.False(reason is StopReason.Halted or StopReason.Faulted, $"the kv guest stopped: {reason}");
                Machine.Outputs.Clear();
            }
            Machine.Outputs.Clear();
            var segment = _recorder.Cut(Machine.Position);
            Segments.Add(segment);
            return new VmLogJournal.LogBatch(segment.FirstEntryIndex, segment.EndEntryIndex, segment.Horizon, LogCodec.Encode(segment));
        }

        /// <summary>The state every rebuild must reach: a fresh boot replaying the whole log, no checkpoint involved.</summary>
        public (ulong Hash, ulong Position) Replayed() => Replayed(Segments.Count);

        /// <summary>The state of a replay of the first <paramref name="segments"/> segments alone.</summary>
        public (ulong Hash, ulong Position) Replayed(int segments)
        {
            var machine = new Machine(MemoryMap.DefaultRamSize);
            ElfLoader.Load(machine, SpecSupport.KvImage);
            var replay = new ReplayInputs(0, machine.Position);
            machine.SwitchInputs(replay);
            foreach (var segment in Segments.Take(segments)) replay.Append(segment);
            Assert.Equal(StopReason.NeedLog, machine.RunUntilStopped(_ => { }));
            return (StateHash.Compute(machine), machine.Position);
        }
    }

    protected object Checkpoint(RecordedKv kv, CheckpointChain chain)
    {
        var image = chain.Capture(kv.Machine);
        return image.IsFull
            ? new VmLogJournal.Checkpoint(kv.EntryIndex, kv.Machine.Position, image.Bytes)
            : new VmLogJournal.Increment(kv.EntryIndex, kv.Machine.Position, image.Bytes);
    }

    /// <summary>
    /// Two chains: the first full checkpoint and its two increments, then a second full one and two
    /// increments, batches between and after them. <paramref name="spoil"/> may change what is sent of
    /// each checkpoint (or send nothing: null); <paramref name="sendSegment"/> may keep a batch from the journal.
    /// </summary>
    protected RecordedKv WriteTwoChains(Func<int, object, object?>? spoil = null, Func<int, bool>? sendSegment = null) => WriteChains(2, spoil, sendSegment);

    /// <summary>As <see cref="WriteTwoChains"/>, with <paramref name="chains"/> chains of a full checkpoint and two increments.</summary>
    /// <param name="sendInstead">What is sent for batch number i, instead of the batch the run cut (its segments stay as cut).</param>
    protected RecordedKv WriteChains(int chains, Func<int, object, object?>? spoil = null, Func<int, bool>? sendSegment = null,
        Func<int, VmLogJournal.LogBatch, VmLogJournal.LogBatch>? sendInstead = null)
    {
        var kv = new RecordedKv();
        var chain = new CheckpointChain(fullEvery: 3, fullFraction: double.PositiveInfinity);
        int checkpoints = 0;
        void Batch(int requests)
        {
            var batch = kv.Serve(requests);
            if (sendInstead is not null) batch = sendInstead(kv.Segments.Count - 1, batch);
            if (sendSegment?.Invoke(kv.Segments.Count - 1) ?? true) _journal.Tell(batch);
        }
        for (int round = 0; round < 3 * chains; round++)
        {
            Batch(5);
            var checkpoint = Checkpoint(kv, chain);
            if ((spoil is null ? checkpoint : spoil(checkpoints, checkpoint)) is { } sent) _journal.Tell(sent);
            checkpoints++;
            Batch(3);
        }
        Batch(4);
        AwaitLoggedUpTo(kv.Segments[^1].EndEntryIndex);
        return kv;
    }

    protected async Task<List<object>> EventsAsync()
    {
        var journal = PersistenceQuery.Get(Sys).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);
        var events = await journal.CurrentEventsByPersistenceId(VmLogJournal.PersistenceIdOf(Vm), 0, long.MaxValue)
            .RunWith(Sink.Seq<EventEnvelope>(), Sys.Materializer());
        return events.Select(e => e.Event).ToList();
    }

    protected void AwaitLoggedUpTo(long entry) =>
        AwaitAssert(() => Assert.Contains(EventsAsync().Result, e => e is VmLogJournal.LogBatch b && b.EndEntry == entry),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

    protected PrimaryLaunch? Rebuild(TimeSpan? wait = null)
    {
        var parent = CreateTestProbe();
        var rebuilder = parent.ChildActorOf(VmRebuilder.Props(new StartPrimary(SpecSupport.Kv(Vm), 2, [])));
        parent.Watch(rebuilder);
        var first = parent.ReceiveOne(wait ?? TimeSpan.FromSeconds(20));
        if (first is PrimaryLaunch launch) return launch;
        Assert.IsType<Terminated>(first);
        return null;
    }

    protected static byte[] Flipped(byte[] bytes)
    {
        var copy = (byte[])bytes.Clone();
        copy[copy.Length / 2] ^= 0x40;
        return copy;
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}
