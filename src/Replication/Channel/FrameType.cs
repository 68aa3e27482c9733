namespace Lockstep.Replication.Channel;

/// <summary>
/// The type byte of a frame on the primary-secondary connection. The layout of each payload is
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
    Waiting = 8,
    SnapshotPages = 9,
    Hello = 10,
}
