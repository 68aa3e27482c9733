using Akka.Actor;
using Akka.Event;
using Akka.Persistence;

namespace Lockstep.Actors.Executors;

/// <summary>
/// Writes a VM's event log to the journal as a stream of batches (many segments per event, never
/// a row per input), plus periodic machine snapshots, so that any recorded execution can be
/// replayed later and a VM can be rebuilt after losing both hosts. It runs beside the primary and
/// never gates outputs: the lockstep channel is what makes an output safe to release.
/// </summary>
public sealed class VmLogJournal : ReceivePersistentActor
{
    /// <summary>Encoded log segments (LogCodec frames, concatenated) covering entries [FirstEntry, EndEntry).</summary>
    public sealed record LogBatch(long FirstEntry, long EndEntry, ulong Horizon, byte[] Segments);

    /// <summary>A full machine snapshot taken when the log stood at <paramref name="EntryIndex"/>.</summary>
    public sealed record Checkpoint(long EntryIndex, ulong Position, byte[] Snapshot);

    /// <summary>Replies with <see cref="Recovered"/>: the newest checkpoint and the batches after it.</summary>
    public sealed record GetRecovered;

    public sealed record Recovered(Checkpoint? Checkpoint, IReadOnlyList<LogBatch> Batches);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _name;
    private Checkpoint? _checkpoint;
    private readonly List<LogBatch> _tail = [];
    private long _bytesWritten;

    public VmLogJournal(string name)
    {
        _name = name;
        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is Checkpoint checkpoint) _checkpoint = checkpoint;
        });
        Recover<LogBatch>(batch => Keep(batch));

        Command<LogBatch>(batch => PersistAsync(batch, persisted =>
        {
            Keep(persisted);
            _bytesWritten += persisted.Segments.Length;
        }));
        Command<Checkpoint>(checkpoint =>
        {
            _checkpoint = checkpoint;
            _tail.RemoveAll(b => b.EndEntry <= checkpoint.EntryIndex);
            SaveSnapshot(checkpoint);
        });
        Command<SaveSnapshotSuccess>(success =>
            DeleteMessages(success.Metadata.SequenceNr)); // batches before the checkpoint are inside it
        Command<SaveSnapshotFailure>(failure => _log.Warning("{0}: snapshot not saved: {1}", _name, failure.Cause.Message));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(failure => _log.Warning("{0}: old log batches not deleted: {1}", _name, failure.Cause.Message));
        Command<GetRecovered>(_ => Sender.Tell(new Recovered(_checkpoint, _tail.ToList())));
    }

    public override string PersistenceId => $"vmlog-{_name}";

    public static Props Props(string name) => Akka.Actor.Props.Create(() => new VmLogJournal(name));

    /// <summary>Only what follows the newest checkpoint is needed to rebuild.</summary>
    private void Keep(LogBatch batch)
    {
        if (_checkpoint is null || batch.EndEntry > _checkpoint.EntryIndex) _tail.Add(batch);
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // Losing the journal copy must not stop the VM: the secondary still protects it.
        _log.Error("{0}: log batch {1} not persisted: {2}", _name, sequenceNr, cause.Message);
    }
}
