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
/// is named and ends the log there: the machine is the one of the newest consistent point, never of garbage. So does
/// a segment that decodes but whose replay diverges (the machine does what the log does not say): the rebuild starts
/// again from the same checkpoint and replays the log up to that segment.
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
        var segments = Segments(loaded.Batches, vm.Name);
        // Replay only the entries before this one: a batch whose replay diverged is left out, with all after it.
        long upTo = long.MaxValue;
        for (bool first = true; ; first = false)
        {
            var origin = Origin(start, loaded, segments, first);
            if (origin.Fresh)
                return new PrimaryLaunch(vm, origin.Machine, start.Generation, false, 0, 0, [], null, start.History, null) { Protection = start.Protection, Coordinator = start.Coordinator };
            var replayed = segments.Where(s => s.Segment.FirstEntryIndex >= origin.From && s.Segment.FirstEntryIndex < upTo).ToList();
            try
            {
                return Replay(start, origin, replayed);
            }
            catch (DivergenceException e) when (Culprit(replayed, e.EntryIndex) is { } culprit)
            {
                // Each segment passed its checksum, so the bytes are as written; the log disagrees with the machine all the same
                // (written by another execution, or spoiled and sealed again). Up to the segment where that showed, they agreed.
                _log.Error("{0}: the journal batch of entries {1}-{2} passes its checks but its replay diverges in the segment from entry {3} ({4}); the log is replayed up to entry {3}, the newest consistent point",
                    vm.Name, culprit.BatchFirst, culprit.BatchEnd, culprit.Segment.FirstEntryIndex, e.Message);
                upTo = culprit.Segment.FirstEntryIndex;
            }
        }
    }

    /// <summary>Where a rebuild starts; <paramref name="Fresh"/>: the journal holds nothing of the VM (the image booted, no log).</summary>
    private sealed record Start(Machine Machine, long From, string Description, bool Fresh = false);

    /// <summary>The machine of the newest usable checkpoint chain, or of the image booted when the log goes back to entry 0.</summary>
    private Start Origin(StartPrimary start, Loaded loaded, IReadOnlyList<JournalSegment> segments, bool logRefusals)
    {
        var vm = start.Vm;
        var machine = new Machine(vm.MemorySize);
        var increments = loaded.Increments;
        if (loaded.Checkpoint is { } checkpoint)
        {
            int applied = CheckpointChain.Restore(machine, checkpoint.Snapshot, increments.Select(i => i.Snapshot).ToList(), (index, why) =>
            {
                if (logRefusals)
                    _log.Warning("{0}: the journal's increment at entry {1} is not used ({2}); the log is replayed from the checkpoint before it",
                        vm.Name, increments[index].EntryIndex, why);
            });
            long from = applied == 0 ? checkpoint.EntryIndex : increments[applied - 1].EntryIndex;
            return new Start(machine, from, $"full checkpoint at {checkpoint.Position}, {applied} of {increments.Count} increments after it");
        }
        ElfLoader.Load(machine, vm.Image);
        if (segments.Count == 0 && loaded.Refused.Count == 0) return new Start(machine, 0, "the image booted", Fresh: true);
        // No checkpoint to start from: the log from its first entry, if the journal still holds it, is the other way.
        if (segments.Count == 0 || segments[0].Segment.FirstEntryIndex != 0)
            throw new InvalidDataException($"the journal holds no usable full checkpoint and not the log from its start (its first batch begins at entry {(segments.Count > 0 ? segments[0].Segment.FirstEntryIndex : 0)}): nothing consistent to rebuild from");
        return new Start(machine, 0, "the image booted, no usable checkpoint");
    }

    private PrimaryLaunch Replay(StartPrimary start, Start origin, IEnumerable<JournalSegment> segments)
    {
        var (vm, machine, from) = (start.Vm, origin.Machine, origin.From);
        var replay = new ReplayInputs(from, machine.Position);
        machine.SwitchInputs(replay);
        foreach (var segment in segments.Select(s => s.Segment))
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
            vm.Name, machine.Position, origin.Description, replay.NextEntryIndex - from);
        // Whether these outputs left before the loss is unknown: resend them, receivers drop repeats by seq.
        ulong firstProduced = produced.Count > 0 ? produced[0].Seq : machine.NextOutputSeq;
        return new PrimaryLaunch(vm, machine, start.Generation, false, replay.NextEntryIndex, firstProduced, produced, null, start.History, null)
        {
            Protection = start.Protection,
            Coordinator = start.Coordinator,
        };
    }

    /// <summary>
    /// The segment to blame for a divergence at <paramref name="entry"/>: the replayed one holding it, or the last replayed
    /// when the machine wanted an entry past the end of what was replayed; null when none was replayed (nothing to leave out).
    /// A divergence shows where the machine first does what the log does not say, which may be later than the bytes that
    /// caused it: without a state hash in each segment the log cannot say more, so this is the newest point known consistent.
    /// </summary>
    private static JournalSegment? Culprit(IReadOnlyList<JournalSegment> replayed, long entry) =>
        replayed.Count == 0 ? null
            : replayed.FirstOrDefault(s => s.Segment.FirstEntryIndex <= entry && entry < s.Segment.EndEntryIndex) ?? replayed[^1];

    /// <summary>A decoded segment with the journal batch (row) it came from.</summary>
    private sealed record JournalSegment(LogSegment Segment, long BatchFirst, long BatchEnd);

    /// <summary>The segments of the batches in order, up to the first that does not decode (named in the log): what follows it is not replayed.</summary>
    private List<JournalSegment> Segments(IEnumerable<VmLogJournal.LogBatch> batches, string vm)
    {
        var segments = new List<JournalSegment>();
        foreach (var batch in batches)
        {
            int offset = 0;
            while (offset < batch.Segments.Length)
            {
                long length = LogCodec.FrameLength(batch.Segments.AsSpan(offset));
                int take = length < 0 || length > batch.Segments.Length - offset ? batch.Segments.Length - offset : (int)length;
                try
                {
                    segments.Add(new JournalSegment(LogCodec.Decode(batch.Segments.AsSpan(offset, take), $"journal batch of entries {batch.FirstEntry}-{batch.EndEntry} (byte offset {offset})"),
                        batch.FirstEntry, batch.EndEntry));
                }
                catch (LogFormatException e)
                {
                    _log.Error("{0}: {1}; the log is replayed up to entry {2}, the newest consistent point", vm, e.Message,
                        segments.Count > 0 ? segments[^1].Segment.EndEntryIndex : batch.FirstEntry);
                    return segments;
                }
                offset += take;
            }
        }
        return segments;
    }
}
