using System.Buffers.Binary;
using System.Text;
using Lockstep.Engine.Recording;

namespace Lockstep.Replication.Channel;

/// <summary>
/// The one place where frames become bytes and bytes become frames.
/// On the wire: [u8 type][u32 channel][i32 payload length][payload], little-endian like every integer
/// in a payload. Channel 0 is the link itself (heartbeats); every other number is one VM's channel.
/// </summary>
public static class FrameCodec
{
    public const int HeaderSize = 9;

    /// <summary>The channel number of the link itself.</summary>
    public const uint LinkChannel = 0;

    /// <summary>The longest VM name a hello may carry (UTF-8 bytes).</summary>
    public const int MaxVmName = 256;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>The largest payload accepted (a snapshot of a 2 GiB guest fits; anything beyond is an attack or corruption).</summary>
    public const int MaxPayload = 1 << 30;

    /// <summary>A frame of <paramref name="channel"/>, header and payload in one buffer, so a send is one write.</summary>
    public static byte[] Encode(uint channel, Frame frame)
    {
        var bytes = EncodeFrame(frame);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(1), channel);
        return bytes;
    }

    private static byte[] EncodeFrame(Frame frame)
    {
        switch (frame)
        {
            case SegmentFrame s:
            {
                var bytes = Allocate(frame, 8 + s.Encoded.Length, out var payload);
                BinaryPrimitives.WriteUInt64LittleEndian(payload, s.ReleasedSeq);
                s.Encoded.CopyTo(payload[8..]);
                return bytes;
            }
            case AckFrame a:
            {
                var bytes = Allocate(frame, 24, out var payload);
                BinaryPrimitives.WriteInt64LittleEndian(payload, a.Entries);
                BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], a.Horizon);
                BinaryPrimitives.WriteUInt64LittleEndian(payload[16..], a.Replayed);
                return bytes;
            }
            case SnapshotFrame s:
            {
                var bytes = Allocate(frame, 24 + s.State.Length, out var payload);
                BinaryPrimitives.WriteInt64LittleEndian(payload, s.FirstEntryIndex);
                BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], s.ReleasedSeq);
                BinaryPrimitives.WriteUInt64LittleEndian(payload[16..], s.Position);
                s.State.CopyTo(payload[24..]);
                return bytes;
            }
            case HandoverFrame h:
            {
                var bytes = Allocate(frame, 24, out var payload);
                BinaryPrimitives.WriteUInt64LittleEndian(payload, h.Position);
                BinaryPrimitives.WriteInt64LittleEndian(payload[8..], h.NextEntryIndex);
                BinaryPrimitives.WriteUInt64LittleEndian(payload[16..], h.ReleasedSeq);
                return bytes;
            }
            case HashCheckFrame h: return Pair(frame, h.Position, h.Hash);
            case HashResultFrame h: return Pair(frame, h.Position, h.Hash);
            case PingFrame p: return Single(frame, p.Stamp);
            case AuthorityFrame a: return Single(frame, a.Position);
            case AuthorityTakenFrame a: return Single(frame, a.Position);
            case PongFrame p: return Pair(frame, p.Stamp, p.HeldTicks);
            case HelloFrame h:
            {
                byte[] name = StrictUtf8.GetBytes(h.Vm);
                if (h.Token.Length != AttachToken.Length || name.Length > MaxVmName)
                    throw new ArgumentException($"a hello carries a {AttachToken.Length}-byte token and a name of at most {MaxVmName} bytes", nameof(frame));
                var bytes = Allocate(frame, AttachToken.Length + name.Length, out var payload);
                h.Token.CopyTo(payload);
                name.CopyTo(payload[AttachToken.Length..]);
                return bytes;
            }
            case PartFrame p:
            {
                var bytes = Allocate(frame, 1 + p.Piece.Length, out var payload);
                payload[0] = p.Last ? (byte)1 : (byte)0;
                p.Piece.Span.CopyTo(payload[1..]);
                return bytes;
            }
            case SnapshotPagesFrame p: return Raw(frame, p.Pages);
            case DeliveryMarksFrame m: return Raw(frame, m.Marks);
            case GoodbyeFrame or RefusedFrame or DropFrame or HeartbeatFrame: return Raw(frame, []);
            default: throw new ArgumentException($"no encoding for {frame.GetType().Name}", nameof(frame));
        }
    }

    /// <summary>The channel a header names.</summary>
    public static uint ChannelOf(ReadOnlySpan<byte> header) => BinaryPrimitives.ReadUInt32LittleEndian(header[1..]);

    /// <summary>The payload length a header announces; refused beyond <paramref name="max"/>, before anything is allocated for it.</summary>
    public static int PayloadLength(ReadOnlySpan<byte> header, int max = MaxPayload)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(header[5..]);
        if (length < 0 || length > max) throw new FrameFormatException($"bad frame length {length}");
        return length;
    }

    /// <exception cref="FrameFormatException">Unknown type, a payload of the wrong size, or a corrupt log segment.</exception>
    public static Frame Decode(byte type, byte[] payload)
    {
        switch ((FrameType)type)
        {
            case FrameType.Segment:
                AtLeast(payload, 8, type);
                byte[] encoded = payload[8..];
                try
                {
                    return new SegmentFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload), LogCodec.Decode(encoded, "segment from primary"), encoded);
                }
                catch (LogFormatException e)
                {
                    throw new FrameFormatException($"corrupt log segment: {e.Message}", e);
                }
            case FrameType.Ack:
                Exactly(payload, 24, type);
                return new AckFrame(BinaryPrimitives.ReadInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)),
                    BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(16)));
            case FrameType.Snapshot:
                AtLeast(payload, 24, type);
                return new SnapshotFrame(BinaryPrimitives.ReadInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)),
                    BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(16)), payload[24..]);
            case FrameType.Handover:
                Exactly(payload, 24, type);
                return new HandoverFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadInt64LittleEndian(payload.AsSpan(8)),
                    BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(16)));
            case FrameType.HashCheck:
                Exactly(payload, 16, type);
                return new HashCheckFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)));
            case FrameType.HashResult:
                Exactly(payload, 16, type);
                return new HashResultFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)));
            case FrameType.Ping:
                Exactly(payload, 8, type);
                return new PingFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload));
            case FrameType.Authority:
                Exactly(payload, 8, type);
                return new AuthorityFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload));
            case FrameType.AuthorityTaken:
                Exactly(payload, 8, type);
                return new AuthorityTakenFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload));
            case FrameType.Pong:
                Exactly(payload, 16, type);
                return new PongFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)));
            case FrameType.Hello:
                AtLeast(payload, AttachToken.Length, type);
                if (payload.Length > AttachToken.Length + MaxVmName) throw new FrameFormatException($"Hello frame of {payload.Length} bytes, longer than {AttachToken.Length + MaxVmName}");
                try
                {
                    return new HelloFrame(StrictUtf8.GetString(payload, AttachToken.Length, payload.Length - AttachToken.Length), payload[..AttachToken.Length]);
                }
                catch (DecoderFallbackException e)
                {
                    throw new FrameFormatException("Hello frame with a VM name that is not UTF-8", e);
                }
            case FrameType.Part:
                AtLeast(payload, 1, type);
                if (payload[0] > 1) throw new FrameFormatException($"Part frame with a last-flag of {payload[0]}");
                return new PartFrame(payload[0] == 1, payload.AsMemory(1));
            case FrameType.SnapshotPages: return new SnapshotPagesFrame(payload);
            case FrameType.DeliveryMarks: return new DeliveryMarksFrame(payload);
            case FrameType.Goodbye:
                Exactly(payload, 0, type);
                return GoodbyeFrame.Instance;
            case FrameType.Refused:
                Exactly(payload, 0, type);
                return RefusedFrame.Instance;
            case FrameType.Drop:
                Exactly(payload, 0, type);
                return DropFrame.Instance;
            case FrameType.Heartbeat:
                Exactly(payload, 0, type);
                return HeartbeatFrame.Instance;
            default:
                throw new FrameFormatException($"unknown frame type {type}");
        }
    }

    private static byte[] Allocate(Frame frame, int payloadLength, out Span<byte> payload)
    {
        var bytes = new byte[HeaderSize + payloadLength];
        bytes[0] = (byte)frame.Type;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(5), payloadLength);
        payload = bytes.AsSpan(HeaderSize);
        return bytes;
    }

    private static byte[] Raw(Frame frame, ReadOnlySpan<byte> data)
    {
        var bytes = Allocate(frame, data.Length, out var payload);
        data.CopyTo(payload);
        return bytes;
    }

    private static byte[] Single(Frame frame, ulong value)
    {
        var bytes = Allocate(frame, 8, out var payload);
        BinaryPrimitives.WriteUInt64LittleEndian(payload, value);
        return bytes;
    }

    private static byte[] Pair(Frame frame, ulong first, ulong second)
    {
        var bytes = Allocate(frame, 16, out var payload);
        BinaryPrimitives.WriteUInt64LittleEndian(payload, first);
        BinaryPrimitives.WriteUInt64LittleEndian(payload[8..], second);
        return bytes;
    }

    private static void Exactly(byte[] payload, int length, byte type)
    {
        if (payload.Length != length) throw new FrameFormatException($"{(FrameType)type} frame of {payload.Length} bytes, not {length}");
    }

    private static void AtLeast(byte[] payload, int length, byte type)
    {
        if (payload.Length < length) throw new FrameFormatException($"{(FrameType)type} frame of {payload.Length} bytes, shorter than {length}");
    }
}
