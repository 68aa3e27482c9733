using Lockstep.Engine.Recording;

namespace Lockstep.Replication.Channel;

/// <summary>One message on a VM's lockstep channel or on the link that carries it; <see cref="FrameCodec"/> turns it into bytes and back.</summary>
public abstract record Frame
{
    public abstract FrameType Type { get; }
}

/// <summary>
/// Primary to secondary, the first frame of a VM's channel on a link: opens it for the secondary of
/// <paramref name="Vm"/> that handed out this one-time token. The name only says which secondary the
/// open is aimed at (so a wrong token can be reported to it); the token is what admits.
/// </summary>
public sealed record HelloFrame(string Vm, byte[] Token) : Frame
{
    public override FrameType Type => FrameType.Hello;
}

/// <summary>Secondary to primary: the open of this channel was refused (a wrong token, or no secondary expecting one). The link stays up.</summary>
public sealed record RefusedFrame : Frame
{
    public static RefusedFrame Instance { get; } = new();
    public override FrameType Type => FrameType.Refused;
}

/// <summary>Either side: this end dropped the channel without a goodbye (stopped, killed, failed): to the peer, as if its connection had closed.</summary>
public sealed record DropFrame : Frame
{
    public static DropFrame Instance { get; } = new();
    public override FrameType Type => FrameType.Drop;
}

/// <summary>Either side, on the link's own channel 0: alive. One per link and heartbeat interval, however many VMs share it.</summary>
public sealed record HeartbeatFrame : Frame
{
    public static HeartbeatFrame Instance { get; } = new();
    public override FrameType Type => FrameType.Heartbeat;
}

/// <summary>
/// Either side, on the link's own channel 0, about once a second: asks for a <see cref="PongFrame"/> (the link's round
/// trip). <paramref name="Stamp"/> is the sender's own clock, meaningless to the receiver, which only echoes it.
/// </summary>
public sealed record PingFrame(ulong Stamp) : Frame
{
    public override FrameType Type => FrameType.Ping;
}

/// <summary>
/// The answer to a <see cref="PingFrame"/>: its stamp, and how long (in <see cref="System.Diagnostics.Stopwatch"/> ticks of the
/// answering side) the answer waited there before it went, so the round trip does not count the answerer's heartbeat timer.
/// </summary>
public sealed record PongFrame(ulong Stamp, ulong HeldTicks) : Frame
{
    public override FrameType Type => FrameType.Pong;
}

/// <summary>
/// A piece of a frame too large to hold the link alone (the RAM copy, a snapshot): the pieces of one
/// channel, joined, are that frame's encoding; <paramref name="Last"/> marks the one that completes it.
/// </summary>
public sealed record PartFrame(bool Last, ReadOnlyMemory<byte> Piece) : Frame
{
    public override FrameType Type => FrameType.Part;
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

/// <summary>Primary to secondary: a log segment (possibly empty: the horizon moved, or more outputs were released) and the first output sequence number not yet released.</summary>
/// <param name="Encoded">The segment as a LogCodec frame, as the journal stores it too (encoded once, on the primary).</param>
public sealed record SegmentFrame(ulong ReleasedSeq, LogSegment Segment, byte[] Encoded) : Frame
{
    public override FrameType Type => FrameType.Segment;

    public static SegmentFrame Of(ulong releasedSeq, LogSegment segment) => new(releasedSeq, segment, LogCodec.Encode(segment));
}

/// <summary>Secondary to primary: entries and horizon received, and how far replay got (sent on receipt, and once replay has caught up).</summary>
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

/// <summary>
/// Primary to secondary, a planned switchover: the primary stopped its guest at instruction <paramref name="Position"/>,
/// everything up to it was shipped and acknowledged and every output before it released; the secondary, replayed to
/// there, may take over as the next generation. <paramref name="NextEntryIndex"/> and <paramref name="ReleasedSeq"/>
/// are what the secondary's log and outputs must agree with (a check, not news).
/// </summary>
public sealed record HandoverFrame(ulong Position, long NextEntryIndex, ulong ReleasedSeq) : Frame
{
    public override FrameType Type => FrameType.Handover;
}

/// <summary>
/// Primary to secondary, once the secondary holds the snapshot: everything up to instruction <paramref name="Position"/>
/// was shipped before this frame, and outputs made up to there left without waiting for this secondary (it was being
/// seeded); those made later wait for its acks. From here, and not before, it may take over when the primary is lost.
/// </summary>
public sealed record AuthorityFrame(ulong Position) : Frame
{
    public override FrameType Type => FrameType.Authority;
}

/// <summary>Secondary to primary: the <see cref="AuthorityFrame"/> for <paramref name="Position"/> arrived; the VM is protected from here.</summary>
public sealed record AuthorityTakenFrame(ulong Position) : Frame
{
    public override FrameType Type => FrameType.AuthorityTaken;
}
