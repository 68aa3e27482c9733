namespace Lockstep.Actors.Lockstep;

/// <summary>Frame types on the dedicated primary-secondary connection.</summary>
public enum FrameType : byte
{
    /// <summary>
    /// Primary to secondary: [i64 first entry index][u64 released seq][machine snapshot], the state the
    /// log continues from: a delta on top of the <see cref="SnapshotPages"/> sent before it.
    /// </summary>
    Snapshot = 1,
    /// <summary>Primary to secondary: [u64 released seq][log segment as LogCodec frame]. An empty one is the heartbeat.</summary>
    Segment = 2,
    /// <summary>Secondary to primary: [i64 entries received][u64 horizon received][u64 replayed position]. Also its heartbeat.</summary>
    Ack = 3,
    /// <summary>Either side: an orderly end (the VM is stopped), not a failure.</summary>
    Goodbye = 4,
    /// <summary>Primary to secondary: [u64 position][u64 state hash] of the primary at that position (a replica check).</summary>
    HashCheck = 5,
    /// <summary>Secondary to primary: [u64 position][u64 state hash] of the secondary replayed to that position.</summary>
    HashResult = 6,
    /// <summary>Primary to secondary: delivery marks (see <see cref="DeliveryFilter"/>), sent before the segments they admitted packets to.</summary>
    DeliveryMarks = 7,
    /// <summary>Secondary to primary, empty: alive, but still without the snapshot, so nothing to acknowledge.</summary>
    Waiting = 8,
    /// <summary>Primary to secondary: RAM copied while the VM ran on (a pages snapshot), ahead of the <see cref="Snapshot"/> that completes it.</summary>
    SnapshotPages = 9,
}
