using Lockstep.Engine.Recording;

namespace Lockstep.Replication.Channel;

/// <summary>One message on the lockstep channel; <see cref="FrameCodec"/> turns it into bytes and back.</summary>
public abstract record Frame
{
    public abstract FrameType Type { get; }
}

/// <summary>Primary to secondary, the first frame of a connection: the one-time token the secondary handed out for this attach.</summary>
public sealed record HelloFrame(byte[] Token) : Frame
{
    public override FrameType Type => FrameType.Hello;
}

/// <summary>Primary to secondary: RAM copied while the VM ran on (a pages snapshot), ahead of the <see cref="SnapshotFrame"/> that completes it.</summary>
public sealed record SnapshotPagesFrame(byte[] Pages) : Frame
{
    public override FrameType Type => FrameType.SnapshotPages;
}

/// <summary>
/// Primary to secondary: the state the log continues from (a delta on top of the pages sent before),
/// taken at instruction <paramref name="Position"/>, the index of the first log entry after it, and
/// the first output sequence number not yet released.
/// </summary>
public sealed record SnapshotFrame(long FirstEntryIndex, ulong ReleasedSeq, ulong Position, byte[] State) : Frame
{
    public override FrameType Type => FrameType.Snapshot;
}

/// <summary>Primary to secondary: a log segment (an empty one is the heartbeat) and the first output sequence number not yet released.</summary>
/// <param name="Encoded">The segment as a LogCodec frame, as the journal stores it too (encoded once, on the primary).</param>
public sealed record SegmentFrame(ulong ReleasedSeq, LogSegment Segment, byte[] Encoded) : Frame
{
    public override FrameType Type => FrameType.Segment;

    public static SegmentFrame Of(ulong releasedSeq, LogSegment segment) => new(releasedSeq, segment, LogCodec.Encode(segment));
}

/// <summary>Secondary to primary: entries and horizon received, and how far replay got. Also the secondary's heartbeat.</summary>
public sealed record AckFrame(long Entries, ulong Horizon, ulong Replayed) : Frame
{
    public override FrameType Type => FrameType.Ack;
}

/// <summary>Either side: an orderly end (the VM stopped, the secondary dismissed), not a failure.</summary>
public sealed record GoodbyeFrame : Frame
{
    public static GoodbyeFrame Instance { get; } = new();
    public override FrameType Type => FrameType.Goodbye;
}

/// <summary>Primary to secondary: the primary's state hash at an instruction count (a replica check).</summary>
public sealed record HashCheckFrame(ulong Position, ulong Hash) : Frame
{
    public override FrameType Type => FrameType.HashCheck;
}

/// <summary>Secondary to primary: its state hash replayed to <paramref name="Position"/> (another position: it could not stop there).</summary>
public sealed record HashResultFrame(ulong Position, ulong Hash) : Frame
{
    public override FrameType Type => FrameType.HashResult;
}

/// <summary>Primary to secondary: delivery marks (see <see cref="DeliveryFilter"/>), sent before the segments they admitted packets to.</summary>
public sealed record DeliveryMarksFrame(byte[] Marks) : Frame
{
    public override FrameType Type => FrameType.DeliveryMarks;
}

/// <summary>Secondary to primary: alive, but still without the snapshot, so nothing to acknowledge.</summary>
public sealed record WaitingFrame : Frame
{
    public static WaitingFrame Instance { get; } = new();
    public override FrameType Type => FrameType.Waiting;
}
