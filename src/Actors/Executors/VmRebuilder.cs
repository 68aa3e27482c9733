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
/// newest checkpoint plus the log batches after it when there are any (a VM that lost both hosts,
/// or a whole cluster restarted), else by booting the image. The journal copy of the log trails
/// the live log by up to a batch, so a rebuild can miss the last few hundred milliseconds: this is
/// the recovery point for double failures, not the lockstep guarantee.
/// </summary>
public sealed class VmRebuilder : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();

    public VmRebuilder(StartPrimary start)
    {
        var journal = Context.ActorOf(VmLogJournal.Props(start.Name), "journal");
        journal.Tell(new VmLogJournal.GetRecovered());
        Receive<VmLogJournal.Recovered>(recovered =>
        {
            try
            {
                Context.Parent.Tell(Rebuild(start, recovered));
            }
            catch (Exception e) when (e is ImageException or DivergenceException or LogFormatException or InvalidDataException)
            {
                _log.Error("cannot start {0}: {1}", start.Name, e.Message);
            }
            Context.Stop(Self);
        });
    }

    public static Props Props(StartPrimary start) => Akka.Actor.Props.Create(() => new VmRebuilder(start));

    private ExecutorHost.LaunchPrimary Rebuild(StartPrimary start, VmLogJournal.Recovered recovered)
    {
        var machine = new Machine(start.MemorySize);
        if (recovered.Checkpoint is not { } checkpoint)
        {
            ElfLoader.Load(machine, start.Image);
            return new ExecutorHost.LaunchPrimary(start.Name, start.MemorySize, machine, start.Generation, 0, 0, [], start.History);
        }
        MachineSnapshot.Restore(machine, checkpoint.Snapshot);
        var replay = new ReplayInputs(checkpoint.EntryIndex, machine.Position);
        machine.SwitchInputs(replay);
        foreach (var segment in Segments(recovered.Batches).Where(s => s.FirstEntryIndex >= checkpoint.EntryIndex))
        {
            if (segment.FirstEntryIndex != replay.ReceivedEntryIndex) break; // a gap: replay what is contiguous
            replay.Append(segment);
        }
        var produced = new List<MachineOutput>();
        machine.RunUntilStopped(produced.Add);
        _log.Info("{0}: rebuilt from the journal at instruction {1} (checkpoint at {2}, {3} entries replayed)",
            start.Name, machine.Position, checkpoint.Position, replay.NextEntryIndex - checkpoint.EntryIndex);
        // Whether these outputs left before the loss is unknown: resend them, receivers drop repeats by seq.
        ulong firstProduced = produced.Count > 0 ? produced[0].Seq : machine.NextOutputSeq;
        return new ExecutorHost.LaunchPrimary(start.Name, start.MemorySize, machine, start.Generation,
            replay.NextEntryIndex, firstProduced, produced, start.History);
    }

    private static IEnumerable<LogSegment> Segments(IEnumerable<VmLogJournal.LogBatch> batches)
    {
        foreach (var batch in batches)
        {
            int offset = 0;
            while (offset < batch.Segments.Length)
            {
                var rest = batch.Segments.AsSpan(offset);
                int length = (int)LogCodec.FrameLength(rest);
                yield return LogCodec.Decode(batch.Segments.AsSpan(offset, length), $"journal batch {batch.FirstEntry}");
                offset += length;
            }
        }
    }
}
