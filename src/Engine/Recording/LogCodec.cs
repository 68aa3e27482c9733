using System.Buffers.Binary;
using Lockstep.Engine.Devices;

namespace Lockstep.Engine.Recording;

/// <summary>
/// Binary form of a segment: a frame of [u32 body length][u32 CRC-32 of body][body]. The body is
/// varint-packed: positions are deltas from the previous entry, clock values deltas from the
/// previous value of the same clock, so a quiet guest's log costs a few bytes per event.
/// Each segment decodes on its own (no state carried across segments).
/// </summary>
public static class LogCodec
{
    public const int FrameHeaderSize = 8;
    private const byte FlagFinal = 1, FlagHash = 2;

    public static byte[] Encode(LogSegment segment)
    {
        var body = new MemoryStream(64 + segment.Entries.Length * 4);
        WriteVarint(body, (ulong)segment.FirstEntryIndex);
        WriteVarint(body, segment.Horizon);
        body.WriteByte((byte)((segment.Final ? FlagFinal : 0) | (segment.FinalStateHash.HasValue ? FlagHash : 0)));
        if (segment.FinalStateHash is ulong hash)
        {
            Span<byte> bytes = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, hash);
            body.Write(bytes);
        }
        WriteVarint(body, (ulong)segment.Entries.Length);
        ulong position = 0, mtime = 0, rtc = 0;
        Span<byte> bits = stackalloc byte[4];
        foreach (var entry in segment.Entries)
        {
            body.WriteByte((byte)entry.Kind);
            WriteVarint(body, entry.Position - position);
            position = entry.Position;
            switch (entry.Kind)
            {
                case EntryKind.Mtime: WriteVarint(body, ZigZag(entry.Value - mtime)); mtime = entry.Value; break;
                case EntryKind.Rtc: WriteVarint(body, ZigZag(entry.Value - rtc)); rtc = entry.Value; break;
                case EntryKind.Random:
                    BinaryPrimitives.WriteUInt32LittleEndian(bits, (uint)entry.Value);
                    body.Write(bits);
                    break;
                case EntryKind.Packet:
                    WriteVarint(body, entry.Peer);
                    var data = entry.Data ?? [];
                    WriteVarint(body, (ulong)data.Length);
                    body.Write(data);
                    break;
            }
        }
        var frame = new byte[FrameHeaderSize + body.Length];
        var payload = body.GetBuffer().AsSpan(0, (int)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), Crc32.Compute(payload));
        payload.CopyTo(frame.AsSpan(FrameHeaderSize));
        return frame;
    }

    /// <summary>Length of the frame that starts <paramref name="buffer"/>, or -1 when its header is incomplete.</summary>
    public static long FrameLength(ReadOnlySpan<byte> buffer) =>
        buffer.Length < FrameHeaderSize ? -1 : FrameHeaderSize + (long)BinaryPrimitives.ReadUInt32LittleEndian(buffer);

    /// <summary>Decodes one whole frame. <paramref name="where"/> names the segment in error messages.</summary>
    public static LogSegment Decode(ReadOnlySpan<byte> frame, string where)
    {
        if (frame.Length < FrameHeaderSize) throw new LogFormatException($"log truncated: {where} is cut short in its header");
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(frame);
        if (frame.Length - FrameHeaderSize < length)
            throw new LogFormatException($"log truncated: {where} declares {length} bytes, only {frame.Length - FrameHeaderSize} present");
        var body = frame.Slice(FrameHeaderSize, (int)length);
        uint expected = BinaryPrimitives.ReadUInt32LittleEndian(frame[4..]);
        if (Crc32.Compute(body) != expected) throw new LogFormatException($"log corrupt: {where} fails its checksum");
        try
        {
            return DecodeBody(body, where);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or OverflowException)
        {
            throw new LogFormatException($"log corrupt: {where} has a malformed body ({e.Message})");
        }
    }

    private static LogSegment DecodeBody(ReadOnlySpan<byte> body, string where)
    {
        int at = 0;
        long first = (long)ReadVarint(body, ref at);
        ulong horizon = ReadVarint(body, ref at);
        byte flags = body[at++];
        ulong? hash = null;
        if ((flags & FlagHash) != 0)
        {
            hash = BinaryPrimitives.ReadUInt64LittleEndian(body[at..]);
            at += 8;
        }
        ulong count = ReadVarint(body, ref at);
        if (count > (ulong)body.Length) throw new LogFormatException($"log corrupt: {where} claims {count} entries in {body.Length} bytes");
        var entries = new LogEntry[count];
        ulong position = 0, mtime = 0, rtc = 0;
        for (int i = 0; i < entries.Length; i++)
        {
            var kind = (EntryKind)body[at++];
            position += ReadVarint(body, ref at);
            entries[i] = kind switch
            {
                EntryKind.Mtime => new LogEntry(kind, position, mtime += UnZigZag(ReadVarint(body, ref at))),
                EntryKind.Rtc => new LogEntry(kind, position, rtc += UnZigZag(ReadVarint(body, ref at))),
                EntryKind.Random => new LogEntry(kind, position, ReadUInt32(body, ref at)),
                EntryKind.Packet => ReadPacket(body, ref at, position),
                EntryKind.TimerOn or EntryKind.TimerOff => new LogEntry(kind, position),
                _ => throw new LogFormatException($"log corrupt: {where}, entry #{first + i} has unknown kind {(byte)kind}"),
            };
        }
        if (at != body.Length) throw new LogFormatException($"log corrupt: {where} has {body.Length - at} stray bytes after its last entry");
        return new LogSegment(first, horizon, entries, (flags & FlagFinal) != 0, hash);
    }

    private static LogEntry ReadPacket(ReadOnlySpan<byte> body, ref int at, ulong position)
    {
        uint peer = (uint)ReadVarint(body, ref at);
        ulong length = ReadVarint(body, ref at);
        // No packet the device could not have taken: a replay would hand it to the guest as it is.
        if (length > NetDevice.MaxPacket) throw new LogFormatException($"log corrupt: a packet entry of {length} bytes, more than the {NetDevice.MaxPacket} a packet can hold");
        var data = body.Slice(at, (int)length).ToArray();
        at += (int)length;
        return new LogEntry(EntryKind.Packet, position, 0, peer, data);
    }

    private static uint ReadUInt32(ReadOnlySpan<byte> body, ref int at)
    {
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(body[at..]);
        at += 4;
        return value;
    }

    private static ulong ZigZag(ulong delta) => (delta << 1) ^ (ulong)((long)delta >> 63);
    private static ulong UnZigZag(ulong value) => (value >> 1) ^ (ulong)-(long)(value & 1);

    private static void WriteVarint(Stream stream, ulong value)
    {
        while (value >= 0x80)
        {
            stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        stream.WriteByte((byte)value);
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> body, ref int at)
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            byte b = body[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return value;
        }
        throw new OverflowException("varint longer than 64 bits");
    }
}
