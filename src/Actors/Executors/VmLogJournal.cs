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
/// it back through Akka.Persistence.Query). It runs beside the primary; for most VMs the lockstep channel
/// is what makes an output safe to release, but a durable VM's outputs also wait for its
/// <see cref="Committed"/> answers, which its primary passes to the loop's output gate. A failed write stops it; the backoff
/// supervisor its primary put it under starts it again, and it then tells the primary
/// (<see cref="Ready"/>) so that the log gets a fresh full checkpoint.
/// </summary>
/// <remarks>
/// A full checkpoint goes to the snapshot store; the increments after it are events between the
/// batches, so that they keep their order and a sequence number each (two snapshots at one sequence
/// number would overwrite each other). Once a full one is saved, everything before the full one before
/// it goes: the batches, the increments and the older snapshots. The chain before the newest stays whole
/// (its full checkpoint, increments and batches), so a rebuild that finds the newest full checkpoint
/// corrupt starts from the one before it and replays the log from there; before the second full one,
/// nothing goes, so the log from its first entry is the way back. What follows the newest stays too,
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

    /// <summary>
    /// To the primary: every log entry before <paramref name="Entries"/> is committed, in a batch or (<paramref name="Checkpoint"/>)
    /// in a full checkpoint, which holds all before it even when batches were lost. A durable VM's outputs wait for this.
    /// </summary>
    /// <param name="Parts">How many batches the primary sent went into this commit (0 for a checkpoint).</param>
    /// <param name="WaitedMs">From the arrival here of the oldest batch in it to the commit (what the oldest output in it waited here).</param>
    /// <param name="WriteMs">From the persist call to the journal's confirmation (the store's share of <paramref name="WaitedMs"/>).</param>
    public sealed record Committed(long Entries, bool Checkpoint, int Parts = 0, double WaitedMs = 0, double WriteMs = 0);

    /// <summary>To the primary: a write or the recovery failed; this writer stops and its supervisor starts it again later.</summary>
    public sealed record Failed(string Reason);

    public static string PersistenceIdOf(string vm) => $"vmlog-{vm}";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _name;
    private readonly IActorRef _primary;
    // The entry indexes of the full checkpoints being saved, in order (the store answers in order).
    private readonly Queue<long> _saving = new();
    // The sequence number of the newest full checkpoint saved here, null before the first: what goes once the next one is saved.
    private long? _newestFull;
    private readonly LatencyHistogram _writes;
    // Group commit: batches that came while a write was under way, joined into one event (one row, one transaction)
    // that goes as soon as that write is confirmed; the journal confirms in order, so commits are acknowledged in order.
    private PendingBatch? _waiting;
    private int _writesUnderWay;

    /// <param name="writes">The node's journal write latencies: from a persist call to the journal's confirmation.</param>
    public VmLogJournal(string name, IActorRef primary, LatencyHistogram writes)
    {
        _name = name;
        _primary = primary;
        _writes = writes;
        // node.conf names a plugin of ours that writes into the default journal's table (DirectSqlJournal); tests without
        // node.conf write to their default journal.
        string plugin = Context.System.Settings.Config.GetString("lockstep.vm-log.journal-plugin", "");
        if (plugin.Length > 0) JournalPluginId = plugin;
        // Recovery only finds the sequence number to continue from (Recovery.None): nothing is offered or replayed, so the
        // newest full checkpoint of an earlier writer is not known here, and goes one full checkpoint later than it would.
        Recover<SnapshotOffer>(_ => { });
        Recover<LogBatch>(_ => { });
        Recover<Increment>(_ => { });
        Recover<RecoveryCompleted>(_ => _primary.Tell(new Ready(_name)));

        Command<LogBatch>(OnBatch);
        Command<Increment>(increment =>
        {
            WriteWaiting(); // increments and checkpoints follow the batches before them
            PersistTimed(increment, _ => { });
        });
        // After the writes before it: a snapshot takes the sequence number of the last write confirmed, and the
        // rebuild reads the events after that number as the ones that follow the checkpoint.
        Command<Checkpoint>(checkpoint =>
        {
            WriteWaiting();
            DeferAsync(checkpoint, c =>
            {
                _saving.Enqueue(c.EntryIndex);
                SaveSnapshot(c);
            });
        });
        Command<SaveSnapshotSuccess>(success =>
        {
            if (_saving.TryDequeue(out long entries)) _primary.Tell(new Committed(entries, true));
            DeleteBefore(success.Metadata.SequenceNr);
        });
        // The increments that follow belong to a chain whose start is missing: a rebuild refuses them and
        // replays the log from the last checkpoint it has, whose batches stay until a full one is saved.
        Command<SaveSnapshotFailure>(failure =>
        {
            _saving.TryDequeue(out _);
            _log.Warning("{0}: full checkpoint not saved: {1}", _name, failure.Cause.Message);
        });
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

    /// <summary>One event, one transaction, for all the log that came while the write before was under way (group commit).</summary>
    private void OnBatch(LogBatch batch)
    {
        if (_waiting is { } waiting && !waiting.TryJoin(batch))
        {
            WriteWaiting(); // not contiguous (cannot happen from one primary): both go, in order
            _waiting = new PendingBatch(batch);
        }
        else _waiting ??= new PendingBatch(batch);
        if (_writesUnderWay == 0) WriteWaiting();
    }

    private void WriteWaiting()
    {
        if (_waiting is not { } waiting) return;
        _waiting = null;
        _writesUnderWay++;
        int parts = waiting.Parts;
        long arrived = waiting.Arrived;
        long at = Stopwatch.GetTimestamp();
        PersistTimed(waiting.Take(), written =>
        {
            _writesUnderWay--;
            long now = Stopwatch.GetTimestamp();
            _primary.Tell(new Committed(written.EndEntry, false, parts, Stopwatch.GetElapsedTime(arrived, now).TotalMilliseconds,
                Stopwatch.GetElapsedTime(at, now).TotalMilliseconds));
            if (_writesUnderWay == 0) WriteWaiting();
        });
    }

    private void PersistTimed<T>(T @event, Action<T> persisted) where T : class
    {
        long at = Stopwatch.GetTimestamp();
        PersistAsync(@event, written =>
        {
            _writes.RecordSince(at);
            persisted(written);
        });
    }

    /// <summary>
    /// What a full checkpoint saved at <paramref name="sequenceNr"/> makes unnecessary: batches and increments up
    /// to the full one before it, and older snapshots than that (the chain before the newest is kept, see the remarks).
    /// </summary>
    private void DeleteBefore(long sequenceNr)
    {
        if (_newestFull is long previous && previous < sequenceNr)
        {
            DeleteMessages(previous);
            if (previous > 0) DeleteSnapshots(new SnapshotSelectionCriteria(previous - 1));
        }
        _newestFull = sequenceNr;
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        // Losing the journal copy must not stop the VM: the secondary still protects it. This actor stops
        // (what Akka.Persistence does after a failed write) and its backoff supervisor starts it again.
        _log.Error("{0}: journal event {1} not persisted: {2}", _name, sequenceNr, cause.Message);
        _primary.Tell(new Failed($"journal write failed: {cause.Message}"));
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        _primary.Tell(new Failed($"journal unreadable: {reason.Message}"));
        base.OnRecoveryFailure(reason, message);
    }
}
