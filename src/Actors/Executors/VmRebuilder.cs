using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Executors;

/// <summary>
/// Builds the machine for a primary that starts with no live predecessor: from the journal's
/// newest full checkpoint, the increments after it and the log batches after the last increment
/// when there are any (a VM that lost both hosts, or a whole cluster restarted), else by booting
/// the image. An increment that cannot be used (corrupt, truncated, of a chain whose full checkpoint
/// was never saved) ends the chain there: the log is then replayed from the checkpoint before it,
/// which the journal still holds, so this costs time, not state. A full checkpoint that cannot be
/// used is an error: nothing older is kept to start from. It only reads: the checkpoint from
/// the snapshot store, the batches through Akka.Persistence.Query, never as a second writer of
/// the log's persistence id. The journal copy of the log trails the live log by up to a batch,
/// so a rebuild can miss the last few hundred milliseconds: this is the recovery point for
/// double failures, not the lockstep guarantee.
/// </summary>
public sealed class VmRebuilder : ReceiveActor
{
    private sealed record Loaded(VmLogJournal.Checkpoint? Checkpoint, IReadOnlyList<VmLogJournal.Increment> Increments,
        IReadOnlyList<VmLogJournal.LogBatch> Batches);

    private static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(30);

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public VmRebuilder(StartPrimary start)
    {
        Receive<Loaded>(loaded =>
        {
            try
            {
                Context.Parent.Tell(Rebuild(start, loaded));
            }
            catch (Exception e) when (e is ImageException or DivergenceException or LogFormatException or InvalidDataException)
            {
                _log.Error("cannot start {0}: {1}", start.Vm.Name, e.Message);
            }
            Context.Stop(Self);
        });
        Receive<Status.Failure>(failure =>
        {
            _log.Error("cannot start {0}: the journal could not be read: {1}", start.Vm.Name, failure.Cause.Message);
            Context.Stop(Self);
        });
        LoadAsync(Context.System, start.Vm.Name).PipeTo(Self);
    }

    public static Props Props(StartPrimary start) => Akka.Actor.Props.Create(() => new VmRebuilder(start));

    /// <summary>Runs outside the actor (no Context after the first await): everything it needs comes in.</summary>
    private static async Task<Loaded> LoadAsync(ActorSystem system, string vm)
    {
        string id = VmLogJournal.PersistenceIdOf(vm);
        var store = Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        var answer = await store.Ask<object>(new LoadSnapshot(id, SnapshotSelectionCriteria.Latest, long.MaxValue), LoadTimeout);
        var selected = answer switch
        {
            LoadSnapshotResult result => result.Snapshot,
            LoadSnapshotFailed failed => throw failed.Cause,
            _ => throw new InvalidOperationException($"unexpected answer from the snapshot store: {answer.GetType().Name}"),
        };
        var checkpoint = selected?.Snapshot as VmLogJournal.Checkpoint;
        long from = checkpoint is null ? 1 : selected!.Metadata.SequenceNr + 1;
        var journal = PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);
        var events = await journal.CurrentEventsByPersistenceId(id, from, long.MaxValue)
            .RunWith(Sink.Seq<EventEnvelope>(), system.Materializer());
        return new Loaded(checkpoint, events.Select(e => e.Event).OfType<VmLogJournal.Increment>().ToList(),
            events.Select(e => e.Event).OfType<VmLogJournal.LogBatch>().ToList());
    }

    private PrimaryLaunch Rebuild(StartPrimary start, Loaded loaded)
    {
        var vm = start.Vm;
        var machine = new Machine(vm.MemorySize);
        if (loaded.Checkpoint is not { } checkpoint)
        {
            ElfLoader.Load(machine, vm.Image);
            return new PrimaryLaunch(vm, machine, start.Generation, false, 0, 0, [], null, start.History, null) { Protection = start.Protection, Coordinator = start.Coordinator };
        }
        var increments = loaded.Increments;
        int applied = CheckpointChain.Restore(machine, checkpoint.Snapshot, increments.Select(i => i.Snapshot).ToList(),
            (index, why) => _log.Warning("{0}: the journal's increment at entry {1} is not used ({2}); the log is replayed from the checkpoint before it",
                vm.Name, increments[index].EntryIndex, why));
        long from = applied == 0 ? checkpoint.EntryIndex : increments[applied - 1].EntryIndex;
        var replay = new ReplayInputs(from, machine.Position);
        machine.SwitchInputs(replay);
        foreach (var segment in Segments(loaded.Batches).Where(s => s.FirstEntryIndex >= from))
        {
            if (segment.FirstEntryIndex != replay.ReceivedEntryIndex) break; // a gap: replay what is contiguous
            replay.Append(segment);
        }
        var produced = new List<MachineOutput>();
        machine.RunUntilStopped(produced.Add);
        _log.Info("{0}: rebuilt from the journal at instruction {1} (full checkpoint at {2}, {3} of {4} increments after it, {5} entries replayed)",
            vm.Name, machine.Position, checkpoint.Position, applied, increments.Count, replay.NextEntryIndex - from);
        // Whether these outputs left before the loss is unknown: resend them, receivers drop repeats by seq.
        ulong firstProduced = produced.Count > 0 ? produced[0].Seq : machine.NextOutputSeq;
        return new PrimaryLaunch(vm, machine, start.Generation, false, replay.NextEntryIndex, firstProduced, produced, null, start.History, null)
        {
            Protection = start.Protection,
            Coordinator = start.Coordinator,
        };
    }

    private static IEnumerable<LogSegment> Segments(IEnumerable<VmLogJournal.LogBatch> batches)
    {
        foreach (var batch in batches)
        {
            int offset = 0;
            while (offset < batch.Segments.Length)
            {
                long length = LogCodec.FrameLength(batch.Segments.AsSpan(offset));
                int take = length < 0 || length > batch.Segments.Length - offset ? batch.Segments.Length - offset : (int)length;
                yield return LogCodec.Decode(batch.Segments.AsSpan(offset, take), $"journal batch {batch.FirstEntry} (byte offset {offset})");
                offset += take;
            }
        }
    }
}
