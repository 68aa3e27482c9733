using System.Buffers.Binary;
using System.Text;

namespace Lockstep.Engine.Recording;

/// <summary>What a log was recorded from: replaying it on another image or memory size is refused.</summary>
public sealed record LogHeader(uint MemorySize, byte[] ImageSha256);

/// <summary>
/// A recording on disk: a header (magic, format version, memory size, image hash) followed by
/// segment frames (<see cref="LogCodec"/>); the last segment is marked final.
/// </summary>
public static class LogFile
{
    /// <summary>2: counter writes as in Spike/Sail and a state hash over written pages only; a version 1
    /// log would replay to another final hash, so it is refused by version rather than as a divergence.</summary>
    public const ushort Version = 2;
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("LOCKSTEP");
    private const int HeaderSize = 8 + 2 + 4 + 32;

    public static void WriteHeader(Stream stream, LogHeader header)
    {
        var bytes = new byte[HeaderSize];
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(10), header.MemorySize);
        header.ImageSha256.CopyTo(bytes, 14);
        stream.Write(bytes);
    }

    public static void WriteSegment(Stream stream, LogSegment segment) => stream.Write(LogCodec.Encode(segment));

    /// <summary>Reads and checks a whole log; a truncated or corrupt one is refused with the place named.</summary>
    public static (LogHeader Header, List<LogSegment> Segments) Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < HeaderSize || !bytes.AsSpan(0, 8).SequenceEqual(Magic))
            throw new LogFormatException($"{path} is not a Lockstep log (no LOCKSTEP header)");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        if (version != Version) throw new LogFormatException($"{path} is log format version {version}; this build reads version {Version}");
        var header = new LogHeader(BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(10)), bytes.AsSpan(14, 32).ToArray());

        var segments = new List<LogSegment>();
        long offset = HeaderSize, nextEntry = 0;
        ulong horizon = 0;
        while (offset < bytes.Length)
        {
            string where = $"segment {segments.Count} (byte offset {offset}, entries from #{nextEntry})";
            var rest = bytes.AsSpan((int)offset);
            long frameLength = LogCodec.FrameLength(rest);
            if (frameLength < 0 || frameLength > rest.Length)
                throw new LogFormatException($"log truncated: {where} is cut short ({rest.Length} of {(frameLength < 0 ? LogCodec.FrameHeaderSize : frameLength)} bytes present)");
            var segment = LogCodec.Decode(rest[..(int)frameLength], where);
            if (segment.FirstEntryIndex != nextEntry || segment.Horizon < horizon)
                throw new LogFormatException($"log corrupt: {where} does not follow the segment before it");
            if (segments.Count > 0 && segments[^1].Final)
                throw new LogFormatException($"log corrupt: {where} comes after the final segment");
            segments.Add(segment);
            nextEntry = segment.EndEntryIndex;
            horizon = segment.Horizon;
            offset += frameLength;
        }
        if (segments.Count == 0 || !segments[^1].Final)
            throw new LogFormatException($"log truncated: {path} ends after {segments.Count} segments (entries up to #{nextEntry}) without its final segment");
        return (header, segments);
    }
}
