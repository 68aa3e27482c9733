using Akka.Actor;
using Akka.Event;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Executors;

/// <summary>
/// Builds the machine for a primary that starts with no live predecessor: from the journal's
/// newest usable full checkpoint, the increments after it and the log batches after the last increment
/// when there are any (a VM that lost both hosts, or a whole cluster restarted), else by booting
/// the image (and replaying the log from its first entry, when the journal still holds it). An increment
/// that cannot be used (corrupt, truncated, of a chain whose full checkpoint was never saved) ends the chain
/// there: the log is then replayed from the checkpoint before it, which the journal still holds, so this costs
/// time, not state. A full checkpoint that is corrupt or truncated is named and passed over for the one before
/// it (the journal keeps the chain before the newest, <see cref="VmLogJournal"/>). A batch that does not decode
/// is named and ends the log there: the machine is the one of the newest consistent point, never of garbage.
/// Only when nothing consistent is left to start from is it an error. It only reads: the checkpoint from
/// the snapshot store, the batches through Akka.Persistence.Query, never as a second writer of
/// the log's persistence id. The journal copy of the log trails the live log by up to a batch,
/// so a rebuild can miss the last few hundred milliseconds: this is the recovery point for
/// double failures, not the lockstep guarantee.
/// </summary>
public sealed class VmRebuilder : ReceiveActor
{
    /// <param name="Refused">Full checkpoints passed over, newest first, each with the reason.</param>
    private sealed record Loaded(VmLogJournal.Checkpoint? Checkpoint, IReadOnlyList<VmLogJournal.Increment> Increments,
        IReadOnlyList<VmLogJournal.LogBatch> Batches, IReadOnlyList<string> Refused);

    private static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(30);

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public VmRebuilder(StartPrimary start)
    {
        Receive<Loaded>(loaded =>
        {
            try
            {
                foreach (string refused in loaded.Refused) _log.Error("{0}: {1}", start.Vm.Name, refused);
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
        var history = await VmJournalReader.LoadAsync(system, vm, LoadTimeout);
        return new Loaded(history.Checkpoint?.Event, history.Increments.Select(i => i.Event).ToList(), history.Batches.Select(b => b.Event).ToList(),
            history.Refused);
    }

    private PrimaryLaunch Rebuild(StartPrimary start, Loaded loaded)
    {
        var vm = start.Vm;
        var machine = new Machine(vm.MemorySize);
        var segments = Segments(loaded.Batches, vm.Name);
        long from;
        string startedFrom;
        int applied = 0;
        var increments = loaded.Increments;
        if (loaded.Checkpoint is { } checkpoint)
        {
            applied = CheckpointChain.Restore(machine, checkpoint.Snapshot, increments.Select(i => i.Snapshot).ToList(),
                (index, why) => _log.Warning("{0}: the journal's increment at entry {1} is not used ({2}); the log is replayed from the checkpoint before it",
                    vm.Name, increments[index].EntryIndex, why));
            from = applied == 0 ? checkpoint.EntryIndex : increments[applied - 1].EntryIndex;
            startedFrom = $"full checkpoint at {checkpoint.Position}, {applied} of {increments.Count} increments after it";
        }
        else
        {
            ElfLoader.Load(machine, vm.Image);
            if (segments.Count == 0 && loaded.Refused.Count == 0)
                return new PrimaryLaunch(vm, machine, start.Generation, false, 0, 0, [], null, start.History, null) { Protection = start.Protection, Coordinator = start.Coordinator };
            // No checkpoint to start from: the log from its first entry, if the journal still holds it, is the other way.
            if (segments.Count == 0 || segments[0].FirstEntryIndex != 0)
                throw new InvalidDataException($"the journal holds no usable full checkpoint and not the log from its start (its first batch begins at entry {(segments.Count > 0 ? segments[0].FirstEntryIndex : 0)}): nothing consistent to rebuild from");
            from = 0;
            startedFrom = "the image booted, no usable checkpoint";
        }
        var replay = new ReplayInputs(from, machine.Position);
        machine.SwitchInputs(replay);
        foreach (var segment in segments.Where(s => s.FirstEntryIndex >= from))
        {
            if (segment.FirstEntryIndex != replay.ReceivedEntryIndex) break; // a gap: replay what is contiguous
            if (segment.Horizon < replay.Horizon)
            {
                _log.Error("{0}: the journal's segment from entry {1} goes back in time (horizon {2} after {3}); the log is replayed up to it", vm.Name, segment.FirstEntryIndex, segment.Horizon, replay.Horizon);
                break;
            }
            replay.Append(segment);
        }
        var produced = new List<MachineOutput>();
        machine.RunUntilStopped(produced.Add);
        _log.Info("{0}: rebuilt from the journal at instruction {1} ({2}, {3} entries replayed)",
            vm.Name, machine.Position, startedFrom, replay.NextEntryIndex - from);
        // Whether these outputs left before the loss is unknown: resend them, receivers drop repeats by seq.
        ulong firstProduced = produced.Count > 0 ? produced[0].Seq : machine.NextOutputSeq;
        return new PrimaryLaunch(vm, machine, start.Generation, false, replay.NextEntryIndex, firstProduced, produced, null, start.History, null)
        {
            Protection = start.Protection,
            Coordinator = start.Coordinator,
        };
    }

    /// <summary>The segments of the batches in order, up to the first that does not decode (named in the log): what follows it is not replayed.</summary>
    private List<LogSegment> Segments(IEnumerable<VmLogJournal.LogBatch> batches, string vm)
    {
        var segments = new List<LogSegment>();
        foreach (var batch in batches)
        {
            int offset = 0;
            while (offset < batch.Segments.Length)
            {
                long length = LogCodec.FrameLength(batch.Segments.AsSpan(offset));
                int take = length < 0 || length > batch.Segments.Length - offset ? batch.Segments.Length - offset : (int)length;
                try
                {
                    segments.Add(LogCodec.Decode(batch.Segments.AsSpan(offset, take), $"journal batch of entries {batch.FirstEntry}-{batch.EndEntry} (byte offset {offset})"));
                }
                catch (LogFormatException e)
                {
                    _log.Error("{0}: {1}; the log is replayed up to entry {2}, the newest consistent point", vm, e.Message,
                        segments.Count > 0 ? segments[^1].EndEntryIndex : batch.FirstEntry);
                    return segments;
                }
                offset += take;
            }
        }
        return segments;
    }
}
