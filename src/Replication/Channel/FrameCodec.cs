using System.Buffers.Binary;
using Lockstep.Engine.Recording;

namespace Lockstep.Replication.Channel;

/// <summary>
/// The one place where frames become bytes and bytes become frames.
/// On the wire: [u8 type][i32 payload length, little-endian][payload]; integers in payloads are little-endian.
/// </summary>
public static class FrameCodec
{
    public const int HeaderSize = 5;

    /// <summary>The largest payload accepted (a snapshot of a 2 GiB guest fits; anything beyond is an attack or corruption).</summary>
    public const int MaxPayload = 1 << 30;

    /// <summary>A frame's header and payload in one buffer, so a send is one write.</summary>
    public static byte[] Encode(Frame frame)
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
            case HashCheckFrame h: return Pair(frame, h.Position, h.Hash);
            case HashResultFrame h: return Pair(frame, h.Position, h.Hash);
            case HelloFrame h: return Raw(frame, h.Token);
            case SnapshotPagesFrame p: return Raw(frame, p.Pages);
            case DeliveryMarksFrame m: return Raw(frame, m.Marks);
            case GoodbyeFrame or WaitingFrame: return Raw(frame, []);
            default: throw new ArgumentException($"no encoding for {frame.GetType().Name}", nameof(frame));
        }
    }

    /// <summary>The payload length a header announces; refused beyond <see cref="MaxPayload"/>.</summary>
    public static int PayloadLength(ReadOnlySpan<byte> header)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(header[1..]);
        if (length < 0 || length > MaxPayload) throw new FrameFormatException($"bad frame length {length}");
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
            case FrameType.HashCheck:
                Exactly(payload, 16, type);
                return new HashCheckFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)));
            case FrameType.HashResult:
                Exactly(payload, 16, type);
                return new HashResultFrame(BinaryPrimitives.ReadUInt64LittleEndian(payload), BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)));
            case FrameType.Hello: return new HelloFrame(payload);
            case FrameType.SnapshotPages: return new SnapshotPagesFrame(payload);
            case FrameType.DeliveryMarks: return new DeliveryMarksFrame(payload);
            case FrameType.Goodbye:
                Exactly(payload, 0, type);
                return GoodbyeFrame.Instance;
            case FrameType.Waiting:
                Exactly(payload, 0, type);
                return WaitingFrame.Instance;
            default:
                throw new FrameFormatException($"unknown frame type {type}");
        }
    }

    private static byte[] Allocate(Frame frame, int payloadLength, out Span<byte> payload)
    {
        var bytes = new byte[HeaderSize + payloadLength];
        bytes[0] = (byte)frame.Type;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(1), payloadLength);
        payload = bytes.AsSpan(HeaderSize);
        return bytes;
    }

    private static byte[] Raw(Frame frame, ReadOnlySpan<byte> data)
    {
        var bytes = Allocate(frame, data.Length, out var payload);
        data.CopyTo(payload);
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
