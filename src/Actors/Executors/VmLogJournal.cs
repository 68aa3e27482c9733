using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Lockstep.Replication.Stats;

namespace Lockstep.Actors.Executors;

/// <summary>
/// Writes a VM's event log to the journal as a stream of batches (many segments per event, never
/// a row per input), plus periodic machine checkpoints, so that any recorded execution can be
/// replayed later and a VM can be rebuilt after losing both hosts (<see cref="VmRebuilder"/> reads
/// it back through Akka.Persistence.Query). It runs beside the primary and never gates outputs: the
/// lockstep channel is what makes an output safe to release. A failed write stops it; the backoff
/// supervisor its primary put it under starts it again, and it then tells the primary
/// (<see cref="Ready"/>) so that the log gets a fresh full checkpoint.
/// </summary>
/// <remarks>
/// A full checkpoint goes to the snapshot store; the increments after it are events between the
/// batches, so that they keep their order and a sequence number each (two snapshots at one sequence
/// number would overwrite each other). Once a full one is saved, everything before it goes: the
/// batches, the increments and the older snapshots. What follows it stays, increments and batches,
/// so a rebuild that cannot use an increment can still replay the log from the checkpoint before.
/// </remarks>
public sealed class VmLogJournal : ReceivePersistentActor
{
    /// <summary>Encoded log segments (LogCodec frames, concatenated) covering entries [FirstEntry, EndEntry).</summary>
    public sealed record LogBatch(long FirstEntry, long EndEntry, ulong Horizon, byte[] Segments);

    /// <summary>A full machine checkpoint taken when the log stood at <paramref name="EntryIndex"/>.</summary>
    public sealed record Checkpoint(long EntryIndex, ulong Position, byte[] Snapshot);

    /// <summary>The pages written since the checkpoint before (CheckpointFormat), taken when the log stood at <paramref name="EntryIndex"/>.</summary>
    public sealed record Increment(long EntryIndex, ulong Position, byte[] Snapshot);

    /// <summary>To the primary: recovered and writing.</summary>
    public sealed record Ready(string Name);

    public static string PersistenceIdOf(string vm) => $"vmlog-{vm}";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _name;
    private readonly IActorRef _primary;
    private readonly LatencyHistogram _writes;

    /// <param name="writes">The node's journal write latencies: from a persist call to the journal's confirmation.</param>
    public VmLogJournal(string name, IActorRef primary, LatencyHistogram writes)
    {
        _name = name;
        _primary = primary;
        _writes = writes;
        // Recovery only finds the sequence number to continue from (Recovery.None): nothing is offered or replayed.
        Recover<SnapshotOffer>(_ => { });
        Recover<LogBatch>(_ => { });
        Recover<Increment>(_ => { });
        Recover<RecoveryCompleted>(_ => _primary.Tell(new Ready(_name)));

        Command<LogBatch>(batch => PersistTimed(batch));
        Command<Increment>(increment => PersistTimed(increment));
        // After the writes before it: a snapshot takes the sequence number of the last write confirmed, and the
        // rebuild reads the events after that number as the ones that follow the checkpoint.
        Command<Checkpoint>(checkpoint => DeferAsync(checkpoint, SaveSnapshot));
        Command<SaveSnapshotSuccess>(success => DeleteBefore(success.Metadata.SequenceNr));
        // The increments that follow belong to a chain whose start is missing: a rebuild refuses them and
        // replays the log from the last checkpoint it has, whose batches stay until a full one is saved.
        Command<SaveSnapshotFailure>(failure => _log.Warning("{0}: full checkpoint not saved: {1}", _name, failure.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(failure => _log.Warning("{0}: old log batches not deleted: {1}", _name, failure.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(failure => _log.Warning("{0}: old checkpoints not deleted: {1}", _name, failure.Cause.Message));
    }

    public override string PersistenceId => PersistenceIdOf(_name);

    /// <summary>
    /// Only the highest sequence number, to continue from: the default recovery loaded the last full checkpoint (the
    /// guest's whole RAM) and replayed every batch after it, only to throw them away, at the start of each primary, that
    /// is on the new primary's node right after a takeover or a switchover, where that work stalled the node (see
    /// docs/benchmarks.md, "Planned switchover"). The rebuild reads the journal itself.
    /// </summary>
    public override Recovery Recovery => Recovery.None;

    public static Props Props(string name, IActorRef primary, LatencyHistogram writes) =>
        Akka.Actor.Props.Create(() => new VmLogJournal(name, primary, writes));

    private void PersistTimed<T>(T @event) where T : class
    {
        long at = Stopwatch.GetTimestamp();
        PersistAsync(@event, _ => _writes.RecordSince(at));
    }

    /// <summary>What a full checkpoint saved at <paramref name="sequenceNr"/> makes unnecessary: batches and increments up to it, older snapshots.</summary>
    private void DeleteBefore(long sequenceNr)
    {
        DeleteMessages(sequenceNr);
        if (sequenceNr > 0) DeleteSnapshots(new SnapshotSelectionCriteria(sequenceNr - 1));
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // Losing the journal copy must not stop the VM: the secondary still protects it. This actor stops
        // (what Akka.Persistence does after a failed write) and its backoff supervisor starts it again.
        _log.Error("{0}: journal event {1} not persisted: {2}", _name, sequenceNr, cause.Message);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }
}
