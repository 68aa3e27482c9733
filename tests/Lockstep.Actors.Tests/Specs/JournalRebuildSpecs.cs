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
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// The journal of one VM on a real SQLite file: a kv machine run the way a primary runs it (live
/// inputs recorded, cut into segments, checkpointed full and incrementally) writes through the real
/// journal actor; the rebuilder then builds the machine back from the newest full checkpoint, the
/// increments after it and the batches, and it must be the machine that a replay of the whole log
/// from boot gives (which never saw a checkpoint).
/// </summary>
public sealed class JournalRebuildSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private const string Vm = "journaled";
    private readonly string _folder;
    private readonly TestProbe _primary;
    private readonly IActorRef _journal;

    public JournalRebuildSpecs() : this(Directory.CreateTempSubdirectory("lockstep-journal-spec-").FullName) { }

    private JournalRebuildSpecs(string folder) : base(ConfigFor(folder))
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
            """).WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>A kv guest run live with its inputs recorded, as a primary loop runs it; every segment it cuts is kept.</summary>
    private sealed class RecordedKv
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
        public (ulong Hash, ulong Position) Replayed()
        {
            var machine = new Machine(MemoryMap.DefaultRamSize);
            ElfLoader.Load(machine, SpecSupport.KvImage);
            var replay = new ReplayInputs(0, machine.Position);
            machine.SwitchInputs(replay);
            foreach (var segment in Segments) replay.Append(segment);
            Assert.Equal(StopReason.NeedLog, machine.RunUntilStopped(_ => { }));
            return (StateHash.Compute(machine), machine.Position);
        }
    }

    private object Checkpoint(RecordedKv kv, CheckpointChain chain)
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
    private RecordedKv WriteTwoChains(Func<int, object, object?>? spoil = null, Func<int, bool>? sendSegment = null)
    {
        var kv = new RecordedKv();
        var chain = new CheckpointChain(fullEvery: 3, fullFraction: double.PositiveInfinity);
        int checkpoints = 0;
        void Batch(int requests)
        {
            var batch = kv.Serve(requests);
            if (sendSegment?.Invoke(kv.Segments.Count - 1) ?? true) _journal.Tell(batch);
        }
        for (int round = 0; round < 6; round++)
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

    private async Task<List<object>> EventsAsync()
    {
        var journal = PersistenceQuery.Get(Sys).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);
        var events = await journal.CurrentEventsByPersistenceId(VmLogJournal.PersistenceIdOf(Vm), 0, long.MaxValue)
            .RunWith(Sink.Seq<EventEnvelope>(), Sys.Materializer());
        return events.Select(e => e.Event).ToList();
    }

    private void AwaitLoggedUpTo(long entry) =>
        AwaitAssert(() => Assert.Contains(EventsAsync().Result, e => e is VmLogJournal.LogBatch b && b.EndEntry == entry),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

    private PrimaryLaunch? Rebuild(TimeSpan? wait = null)
    {
        var parent = CreateTestProbe();
        var rebuilder = parent.ChildActorOf(VmRebuilder.Props(new StartPrimary(SpecSupport.Kv(Vm), 2, [])));
        parent.Watch(rebuilder);
        var first = parent.ReceiveOne(wait ?? TimeSpan.FromSeconds(20));
        if (first is PrimaryLaunch launch) return launch;
        Assert.IsType<Terminated>(first);
        return null;
    }

    [Fact]
    public void The_rebuild_from_the_newest_full_checkpoint_its_increments_and_the_batches_is_the_machine_of_a_replay_from_boot()
    {
        var kv = WriteTwoChains();
        var (hash, position) = kv.Replayed();
        // Everything before the newest full checkpoint goes: its batches, the first chain's increments, the first snapshot.
        AwaitAssert(() =>
        {
            var events = EventsAsync().Result;
            Assert.Equal(2, events.OfType<VmLogJournal.Increment>().Count());
            Assert.Equal(kv.Segments[7].FirstEntryIndex, events.OfType<VmLogJournal.LogBatch>().Min(b => b.FirstEntry));
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
        Assert.Equal(kv.Segments[^1].EndEntryIndex, launch.FirstEntryIndex);
    }

    [Fact]
    public void The_increments_carry_the_state_the_batches_between_them_would_have_replayed()
    {
        // Segments 7 to 10 lie between the second full checkpoint and its last increment: without them only
        // the increments can bring the machine from the one to the other.
        var kv = WriteTwoChains(sendSegment: segment => segment is < 7 or > 10);
        var (hash, position) = kv.Replayed();
        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
    }

    [Fact]
    public void A_corrupt_increment_makes_the_rebuild_replay_from_the_checkpoint_before_it_to_the_same_machine()
    {
        var kv = WriteTwoChains((index, checkpoint) => index == 4 && checkpoint is VmLogJournal.Increment increment
            ? increment with { Snapshot = Flipped(increment.Snapshot) }
            : checkpoint);
        var (hash, position) = kv.Replayed();
        AwaitAssert(() => Assert.Equal(2, EventsAsync().Result.OfType<VmLogJournal.Increment>().Count()),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
    }

    [Fact]
    public void Increments_after_a_full_checkpoint_that_was_never_saved_are_not_applied_on_top_of_an_older_one()
    {
        // The second full checkpoint is lost on its way: its increments arrive, the first chain's batches stay.
        var kv = WriteTwoChains((index, checkpoint) => index == 3 ? null : checkpoint);
        var (hash, position) = kv.Replayed();
        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
    }

    [Fact]
    public void A_corrupt_full_checkpoint_is_an_error_not_a_machine()
    {
        var kv = new RecordedKv();
        var chain = new CheckpointChain();
        _journal.Tell(kv.Serve(3));
        var full = Assert.IsType<VmLogJournal.Checkpoint>(Checkpoint(kv, chain));
        _journal.Tell(full with { Snapshot = Flipped(full.Snapshot) });
        _journal.Tell(kv.Serve(3));
        AwaitLoggedUpTo(kv.Segments[^1].EndEntryIndex);
        AwaitAssert(() => Assert.DoesNotContain(EventsAsync().Result, e => e is VmLogJournal.LogBatch b && b.FirstEntry == 0),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

        PrimaryLaunch? launch = null;
        EventFilter.Error().Expect(1, () => launch = Rebuild());
        Assert.Null(launch);
    }

    private static byte[] Flipped(byte[] bytes)
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
