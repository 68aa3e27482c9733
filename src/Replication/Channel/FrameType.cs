namespace Lockstep.Replication.Channel;

/// <summary>
/// The type byte of a frame on a lockstep link (the connection between two nodes that carries VMs' channels). The layout of each payload is
/// written once, in <see cref="FrameCodec"/>; everything else handles the typed <see cref="Frame"/>s.
/// </summary>
public enum FrameType : byte
{
    Snapshot = 1,
    Segment = 2,
    Ack = 3,
    Goodbye = 4,
    HashCheck = 5,
    HashResult = 6,
    DeliveryMarks = 7,
    // 8 was Waiting, the secondary's per-VM heartbeat before the snapshot: heartbeats are the link's now.
    SnapshotPages = 9,
    Hello = 10,
    Refused = 11,
    Drop = 12,
    Heartbeat = 13,
    Part = 14,
    Handover = 15,
    Ping = 16,
    Pong = 17,
    Authority = 18,
    AuthorityTaken = 19,
}
