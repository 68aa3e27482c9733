using Akka.Actor;
using Akka.Event;
using Akka.Persistence;

namespace Lockstep.Actors.Executors;

/// <summary>
/// Writes a VM's event log to the journal as a stream of batches (many segments per event, never
/// a row per input), plus periodic machine snapshots, so that any recorded execution can be
/// replayed later and a VM can be rebuilt after losing both hosts (<see cref="VmRebuilder"/> reads
/// it back through Akka.Persistence.Query). It runs beside the primary and never gates outputs: the
/// lockstep channel is what makes an output safe to release. A failed write stops it; the backoff
/// supervisor its primary put it under starts it again, and it then tells the primary
/// (<see cref="Ready"/>) so that the log gets a fresh checkpoint.
/// </summary>
public sealed class VmLogJournal : ReceivePersistentActor
{
    /// <summary>Encoded log segments (LogCodec frames, concatenated) covering entries [FirstEntry, EndEntry).</summary>
    public sealed record LogBatch(long FirstEntry, long EndEntry, ulong Horizon, byte[] Segments);

    /// <summary>A full machine snapshot taken when the log stood at <paramref name="EntryIndex"/>.</summary>
    public sealed record Checkpoint(long EntryIndex, ulong Position, byte[] Snapshot);

    /// <summary>To the primary: recovered and writing.</summary>
    public sealed record Ready(string Name);

    public static string PersistenceIdOf(string vm) => $"vmlog-{vm}";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _name;
    private readonly IActorRef _primary;

    public VmLogJournal(string name, IActorRef primary)
    {
        _name = name;
        _primary = primary;
        // Recovery only finds the sequence number to continue from; the rebuild reads the journal itself.
        Recover<SnapshotOffer>(_ => { });
        Recover<LogBatch>(_ => { });
        Recover<RecoveryCompleted>(_ => _primary.Tell(new Ready(_name)));

        Command<LogBatch>(batch => PersistAsync(batch, _ => { }));
        Command<Checkpoint>(SaveSnapshot);
        Command<SaveSnapshotSuccess>(success =>
            DeleteMessages(success.Metadata.SequenceNr)); // batches before the checkpoint are inside it
        Command<SaveSnapshotFailure>(failure => _log.Warning("{0}: snapshot not saved: {1}", _name, failure.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(failure => _log.Warning("{0}: old log batches not deleted: {1}", _name, failure.Cause.Message));
    }

    public override string PersistenceId => PersistenceIdOf(_name);

    public static Props Props(string name, IActorRef primary) => Akka.Actor.Props.Create(() => new VmLogJournal(name, primary));

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // Losing the journal copy must not stop the VM: the secondary still protects it. This actor stops
        // (what Akka.Persistence does after a failed write) and its backoff supervisor starts it again.
        _log.Error("{0}: log batch {1} not persisted: {2}", _name, sequenceNr, cause.Message);
        base.OnPersistFailure(cause, @event, sequenceNr);
    }
}
