using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Lockstep.Actors.Vm;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Executors;

/// <summary>
/// Reads what the journal holds of one VM, never writing: the newest full checkpoint from the
/// snapshot store, and the increments and log batches after it through Akka.Persistence.Query.
/// The rebuild (<see cref="VmRebuilder"/>) and exports (<see cref="Export.VmExporter"/>) both read through here.
/// </summary>
public static class VmJournalReader
{
    /// <summary>An event as stored, with its sequence number and the journal's write time (UTC).</summary>
    public sealed record Stored<T>(T Event, long SequenceNr, DateTime WrittenAt);

    /// <param name="Checkpoint">Null while the VM has no usable full checkpoint: the batches then go back to its boot.</param>
    /// <param name="Refused">Full checkpoints passed over, newest first, each with the reason.</param>
    public sealed record History(Stored<VmLogJournal.Checkpoint>? Checkpoint, IReadOnlyList<Stored<VmLogJournal.Increment>> Increments,
        IReadOnlyList<Stored<VmLogJournal.LogBatch>> Batches, IReadOnlyList<string> Refused);

    /// <summary>What the VM was created with (the newest create, after a stop and a new create).</summary>
    public sealed record Definition(byte[] Image, uint MemorySize);

    /// <summary>
    /// The newest usable full checkpoint and what follows it. A full checkpoint that fails its checks (corrupt,
    /// truncated) is named in <see cref="History.Refused"/> and passed over for the one before it; increments saved
    /// after a passed-over one are of its chain and are left out (they never apply on top of an older one).
    /// </summary>
    public static async Task<History> LoadAsync(ActorSystem system, string vm, TimeSpan timeout)
    {
        string id = VmLogJournal.PersistenceIdOf(vm);
        var store = Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        var refused = new List<string>();
        long newerThanUsable = long.MaxValue;
        Stored<VmLogJournal.Checkpoint>? checkpoint = null;
        // Newest first: a full checkpoint that fails its checks is passed over for the one before it.
        for (long upTo = long.MaxValue; checkpoint is null;)
        {
            var answer = await LoadSnapshotAsync(store, id, upTo, timeout);
            if (answer is LoadSnapshotFailed failed)
            {
                // The row does not even come back as a snapshot (it does not deserialise, or the store cannot read it):
                // find its sequence number, name it, and try the one before it.
                long bad = await UnreadableSnapshotAsync(system, store, id, upTo, timeout) ?? throw failed.Cause;
                refused.Add($"the journal's snapshot at sequence number {bad} cannot be read ({failed.Cause.GetType().Name}: {failed.Cause.Message}) and is not used; the one before it is tried");
                (newerThanUsable, upTo) = (bad, bad - 1);
                if (bad <= 0) break;
                continue;
            }
            if (((LoadSnapshotResult)answer).Snapshot is not { } selected) break;
            long seq = selected.Metadata.SequenceNr;
            if (selected.Snapshot is VmLogJournal.Checkpoint candidate && Unusable(candidate.Snapshot) is null)
            {
                checkpoint = new(candidate, seq, DateTime.SpecifyKind(selected.Metadata.Timestamp, DateTimeKind.Utc));
                break;
            }
            refused.Add($"the journal's full checkpoint at sequence number {seq}"
                + (selected.Snapshot is VmLogJournal.Checkpoint c ? $" (log entry {c.EntryIndex}) is corrupt or truncated and not used: {Unusable(c.Snapshot)}" : " is not a checkpoint")
                + "; the one before it is tried");
            (newerThanUsable, upTo) = (seq, seq - 1);
            if (seq <= 1) break;
        }
        long from = checkpoint is null ? 1 : checkpoint.SequenceNr + 1;
        var events = await EventsAsync(system, id, from);
        return new History(checkpoint, OfType<VmLogJournal.Increment>(events.Where(e => e.SequenceNr < newerThanUsable)),
            OfType<VmLogJournal.LogBatch>(events), refused);
    }

    /// <summary>The newest snapshot up to <paramref name="upTo"/>.</summary>
    /// <returns>A <see cref="LoadSnapshotResult"/> or a <see cref="LoadSnapshotFailed"/>.</returns>
    private static async Task<object> LoadSnapshotAsync(IActorRef store, string id, long upTo, TimeSpan timeout)
    {
        var answer = await store.Ask<object>(new LoadSnapshot(id, new SnapshotSelectionCriteria(upTo), long.MaxValue), timeout);
        return answer is LoadSnapshotResult or LoadSnapshotFailed
            ? answer
            : throw new InvalidOperationException($"unexpected answer from the snapshot store: {answer.GetType().Name}");
    }

    /// <summary>
    /// The sequence number of the snapshot that makes loading the newest up to <paramref name="upTo"/> fail, or null when
    /// the load fails for any bound (the store itself is failing). A load up to a bound fails once the bound reaches that
    /// snapshot and answers below it (the older snapshot or none), so halving between -1 and the journal's highest sequence
    /// number finds it. Each failed load is followed by one that cannot fail (up to -1, nothing): the store's circuit
    /// breaker opens after a few failures in a row, and a success in between keeps it closed.
    /// </summary>
    private static async Task<long?> UnreadableSnapshotAsync(ActorSystem system, IActorRef store, string id, long upTo, TimeSpan timeout)
    {
        var kept = await EventsAsync(system, id, 1);
        long loads = -1, fails = Math.Min(upTo, kept.Count == 0 ? 0 : kept.Max(e => e.SequenceNr));
        if (await LoadSnapshotAsync(store, id, fails, timeout) is not LoadSnapshotFailed) return null;
        while (fails - loads > 1)
        {
            long middle = loads + (fails - loads) / 2;
            if (await LoadSnapshotAsync(store, id, middle, timeout) is LoadSnapshotFailed)
            {
                fails = middle;
                if (await LoadSnapshotAsync(store, id, -1, timeout) is LoadSnapshotFailed) return null;
            }
            else loads = middle;
        }
        return fails;
    }

    /// <summary>Why a full checkpoint cannot be started from (checked whole, its checksum included), or null.</summary>
    private static string? Unusable(byte[] snapshot)
    {
        if (!CheckpointFormat.IsCheckpoint(snapshot)) return null; // an older kind, unchecked: restoring it says whether it is whole
        try
        {
            return CheckpointFormat.ReadHeader(snapshot).IsFull ? null : "it is an increment";
        }
        catch (InvalidDataException e)
        {
            return e.Message;
        }
    }

    /// <summary>Null when the journal holds no create of <paramref name="vm"/>.</summary>
    public static async Task<Definition?> LoadDefinitionAsync(ActorSystem system, string vm)
    {
        var defined = OfType<ProtectedVm.Defined>(await EventsAsync(system, $"vm-{vm}", 1)).LastOrDefault();
        return defined is null ? null : new Definition(defined.Event.Image, defined.Event.MemorySize);
    }

    /// <summary>The log segments of <paramref name="batches"/>, in order; a corrupt one is refused with its batch named.</summary>
    public static IEnumerable<LogSegment> Segments(IEnumerable<VmLogJournal.LogBatch> batches)
    {
        foreach (var batch in batches)
        {
            int offset = 0;
            while (offset < batch.Segments.Length)
            {
                var rest = batch.Segments.AsSpan(offset);
                long length = LogCodec.FrameLength(rest);
                if (length < 0 || length > rest.Length)
                    throw new LogFormatException($"journal batch {batch.FirstEntry} is cut short at byte {offset}");
                yield return LogCodec.Decode(batch.Segments.AsSpan(offset, (int)length), $"journal batch {batch.FirstEntry}");
                offset += (int)length;
            }
        }
    }

    private static async Task<IReadOnlyList<EventEnvelope>> EventsAsync(ActorSystem system, string persistenceId, long from)
    {
        var journal = PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);
        return await journal.CurrentEventsByPersistenceId(persistenceId, from, long.MaxValue)
            .RunWith(Sink.Seq<EventEnvelope>(), system.Materializer());
    }

    // The SQL journal stores DateTime.UtcNow.Ticks as an event's timestamp.
    private static List<Stored<T>> OfType<T>(IEnumerable<EventEnvelope> events) =>
        events.Where(e => e.Event is T).Select(e => new Stored<T>((T)e.Event, e.SequenceNr, new DateTime(e.Timestamp, DateTimeKind.Utc))).ToList();
}
