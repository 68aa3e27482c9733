using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Engine.Recording;

/// <summary>
/// An export (<see cref="ExportContents"/>) on disk: the event-log format (<see cref="LogFile"/>) grown
/// into a container. The header carries what a log header does (the log format version, memory size,
/// image SHA-256) under its own magic and with a CRC-32 of its own; then come records framed as
/// log segments are ([u32 body length][u32 CRC-32 of body][body]), each body a kind byte and its
/// payload, in this order: info, image, the checkpoint (none when the export starts at boot), its
/// increments, log segments (each a <see cref="LogCodec"/> frame, unchanged), and an end record that
/// counts them, so a file cut at a record boundary is refused too.
/// </summary>
public static class ExportFile
{
    public const ushort Version = 1;
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("LSEXPORT");
    private const int HeaderBody = 8 + 2 + 2 + 4 + 32;
    public const int HeaderSize = HeaderBody + 4;
    private const int RecordHeader = LogCodec.FrameHeaderSize;

    private enum Kind : byte { Info = 1, Image = 2, Checkpoint = 3, Increment = 4, Segment = 5, End = 6 }

    public static void Write(Stream stream, ExportContents export)
    {
        var header = new byte[HeaderSize];
        Magic.CopyTo(header, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), Version);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(10), LogFile.Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), export.MemorySize);
        SHA256.HashData(export.Image).CopyTo(header, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(HeaderBody), Crc32.Compute(header.AsSpan(0, HeaderBody)));
        stream.Write(header);

        WriteRecord(stream, Kind.Info, EncodeInfo(export.Info));
        WriteRecord(stream, Kind.Image, export.Image);
        if (export.Checkpoint is { } checkpoint) WriteRecord(stream, Kind.Checkpoint, checkpoint);
        foreach (var increment in export.Increments) WriteRecord(stream, Kind.Increment, increment);
        foreach (var segment in export.Segments) WriteRecord(stream, Kind.Segment, LogCodec.Encode(segment));
        var end = new byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(end, export.Increments.Count);
        BinaryPrimitives.WriteInt32LittleEndian(end.AsSpan(4), export.Segments.Count);
        BinaryPrimitives.WriteInt32LittleEndian(end.AsSpan(8), export.Checkpoint is null ? 0 : 1);
        WriteRecord(stream, Kind.End, end);
    }

    public static byte[] Encode(ExportContents export)
    {
        var stream = new MemoryStream();
        Write(stream, export);
        return stream.ToArray();
    }

    /// <summary>Reads and checks a whole export file.</summary>
    /// <exception cref="LogFormatException">Not readable, not an export, or the first bad record named.</exception>
    public static ExportContents Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LogFormatException($"cannot read export {path}: {e.Message}");
        }
        return Decode(bytes, path);
    }

    /// <summary>True when <paramref name="bytes"/> start like an export (whatever follows).</summary>
    public static bool LooksLikeExport(ReadOnlySpan<byte> bytes) => bytes.Length >= Magic.Length && bytes[..Magic.Length].SequenceEqual(Magic);

    /// <summary>Checks everything (every record's checksum, order and links) before anything is returned.</summary>
    /// <param name="name">Names the file in error messages.</param>
    public static ExportContents Decode(byte[] bytes, string name)
    {
        if (!LooksLikeExport(bytes)) throw new LogFormatException($"{name} is not a Lockstep export (no LSEXPORT header)");
        if (bytes.Length < HeaderSize) throw new LogFormatException($"export truncated: {name} ends inside its header ({bytes.Length} of {HeaderSize} bytes)");
        if (Crc32.Compute(bytes.AsSpan(0, HeaderBody)) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(HeaderBody)))
            throw new LogFormatException($"export corrupt: the header of {name} fails its checksum");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8));
        if (version != Version) throw new LogFormatException($"{name} is export format version {version}; this build reads version {Version}");
        ushort logVersion = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(10));
        if (logVersion != LogFile.Version) throw new LogFormatException($"{name} holds log format version {logVersion}; this build replays version {LogFile.Version}");
        uint memory = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(12));
        var imageHash = bytes.AsSpan(16, 32).ToArray();

        var reader = new Reader(bytes);
        var infoRecord = reader.Next(Kind.Info, "the info record");
        ExportInfo info;
        try
        {
            info = DecodeInfo(infoRecord.Payload);
        }
        catch (Exception e) when (e is EndOfStreamException or ArgumentException or DecoderFallbackException)
        {
            throw new LogFormatException($"export corrupt: {infoRecord.Where} has a malformed body ({e.Message})");
        }
        var imageRecord = reader.Next(Kind.Image, "the image record");
        var image = imageRecord.Payload.ToArray();
        if (!SHA256.HashData(image).AsSpan().SequenceEqual(imageHash))
            throw new LogFormatException($"export corrupt: {imageRecord.Where} does not match the image hash in the header");

        byte[]? checkpoint = null;
        CheckpointHeader? chainAt = null;
        var increments = new List<byte[]>();
        var segments = new List<LogSegment>();
        long nextEntry = info.FirstEntryIndex;
        ulong horizon = info.StartPosition;
        while (true)
        {
            var record = reader.Next(null, $"record {reader.Count}");
            switch (record.Kind)
            {
                case Kind.Checkpoint when checkpoint is null && increments.Count == 0 && segments.Count == 0:
                    var full = Checked(record, "checkpoint");
                    if (!full.IsFull) throw new LogFormatException($"export corrupt: {record.Where} is increment {full.Ordinal} of a chain, not a full checkpoint");
                    checkpoint = record.Payload.ToArray();
                    chainAt = full;
                    break;
                case Kind.Increment when chainAt is { } previous && segments.Count == 0:
                    var next = Checked(record, $"increment {increments.Count}");
                    if (next.Chain != previous.Chain || next.Ordinal != previous.Ordinal + 1 || next.BasePosition != previous.Position)
                        throw new LogFormatException($"export corrupt: {record.Where} (increment {increments.Count}) does not follow the checkpoint before it");
                    increments.Add(record.Payload.ToArray());
                    chainAt = next;
                    break;
                case Kind.Segment:
                    string where = $"{record.Where} (log segment {segments.Count}, entries from #{nextEntry})";
                    if (segments.Count == 0) CheckStart(chainAt, info, where);
                    var segment = LogCodec.Decode(record.Payload, where);
                    if (segment.FirstEntryIndex != nextEntry || segment.Horizon < horizon)
                        throw new LogFormatException($"export corrupt: {where} does not follow the segment before it");
                    segments.Add(segment);
                    nextEntry = segment.EndEntryIndex;
                    horizon = segment.Horizon;
                    break;
                case Kind.End:
                    if (segments.Count == 0) CheckStart(chainAt, info, record.Where);
                    CheckEnd(record, checkpoint is null ? 0 : 1, increments.Count, segments.Count);
                    if (reader.Offset != bytes.Length)
                        throw new LogFormatException($"export corrupt: {bytes.Length - reader.Offset} stray bytes after the end record (byte offset {reader.Offset})");
                    if (horizon != info.EndPosition)
                        throw new LogFormatException($"export corrupt: its log ends at instruction {horizon}, the info record says {info.EndPosition}");
                    return new ExportContents(info, memory, image, checkpoint, increments, segments);
                default:
                    throw new LogFormatException($"export corrupt: {record.Where} is a record of kind {(byte)record.Kind}, which cannot come here");
            }
        }
    }

    /// <summary>At the first record after the checkpoints: they must end where the info record says the export starts.</summary>
    private static void CheckStart(CheckpointHeader? chainAt, ExportInfo info, string where)
    {
        ulong position = chainAt?.Position ?? 0;
        if (position != info.StartPosition)
            throw new LogFormatException($"export corrupt: at {where} the checkpoints end at instruction {position}, the info record says the export starts at {info.StartPosition}");
    }

    private static CheckpointHeader Checked(Record record, string what)
    {
        try
        {
            return CheckpointFormat.ReadHeader(record.Payload);
        }
        catch (InvalidDataException e)
        {
            throw new LogFormatException($"export corrupt: {record.Where} ({what}): {e.Message}");
        }
    }

    private static void CheckEnd(Record record, int checkpoints, int increments, int segments)
    {
        if (record.Payload.Length != 12) throw new LogFormatException($"export corrupt: {record.Where} (the end record) has {record.Payload.Length} bytes, not 12");
        int wantIncrements = BinaryPrimitives.ReadInt32LittleEndian(record.Payload);
        int wantSegments = BinaryPrimitives.ReadInt32LittleEndian(record.Payload[4..]);
        int wantCheckpoints = BinaryPrimitives.ReadInt32LittleEndian(record.Payload[8..]);
        if (wantIncrements != increments || wantSegments != segments || wantCheckpoints != checkpoints)
            throw new LogFormatException($"export corrupt: {record.Where} (the end record) counts {wantCheckpoints} checkpoint, {wantIncrements} increments and {wantSegments} segments; "
                + $"the file holds {checkpoints}, {increments} and {segments}");
    }

    private static void WriteRecord(Stream stream, Kind kind, ReadOnlySpan<byte> payload)
    {
        var header = new byte[RecordHeader + 1];
        header[RecordHeader] = (byte)kind;
        uint crc = Crc32.Compute([(byte)kind, .. payload]);
        BinaryPrimitives.WriteUInt32LittleEndian(header, checked((uint)payload.Length + 1));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), crc);
        stream.Write(header);
        stream.Write(payload);
    }

    private static byte[] EncodeInfo(ExportInfo info)
    {
        var body = new MemoryStream();
        using (var writer = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(info.VmName);
            writer.Write(info.ExportedAt.ToUniversalTime().Ticks);
            writer.Write(info.FirstEntryIndex);
            writer.Write(info.StartPosition);
            writer.Write(info.EndPosition);
            writer.Write(info.StartTime?.ToUniversalTime().Ticks ?? 0);
            writer.Write(info.EndTime?.ToUniversalTime().Ticks ?? 0);
        }
        return body.ToArray();
    }

    private static ExportInfo DecodeInfo(ReadOnlySpan<byte> payload)
    {
        using var reader = new BinaryReader(new MemoryStream(payload.ToArray()), new UTF8Encoding(false, throwOnInvalidBytes: true));
        var info = new ExportInfo(reader.ReadString(), Utc(reader.ReadInt64()) ?? DateTime.MinValue, reader.ReadInt64(), reader.ReadUInt64(), reader.ReadUInt64(),
            Utc(reader.ReadInt64()), Utc(reader.ReadInt64()));
        if (reader.BaseStream.Position != reader.BaseStream.Length) throw new ArgumentException($"{reader.BaseStream.Length - reader.BaseStream.Position} stray bytes");
        if (info.FirstEntryIndex < 0 || info.EndPosition < info.StartPosition) throw new ArgumentException("its positions go backwards");
        return info;
    }

    private static DateTime? Utc(long ticks) =>
        ticks == 0 ? null : ticks > 0 && ticks <= DateTime.MaxValue.Ticks ? new DateTime(ticks, DateTimeKind.Utc) : throw new ArgumentException($"{ticks} is not a time");

    private readonly ref struct Record(Kind kind, ReadOnlySpan<byte> payload, string where)
    {
        public Kind Kind { get; } = kind;
        public ReadOnlySpan<byte> Payload { get; } = payload;
        public string Where { get; } = where;
    }

    /// <summary>Walks the records after the header, checking each frame before its body is looked at.</summary>
    private sealed class Reader(byte[] bytes)
    {
        public int Offset { get; private set; } = HeaderSize;
        public int Count { get; private set; }

        public Record Next(Kind? expected, string what)
        {
            string where = $"{what} (record {Count}, byte offset {Offset})";
            if (expected is null) where = $"record {Count} (byte offset {Offset})";
            var rest = bytes.AsSpan(Offset);
            if (rest.Length == 0) throw new LogFormatException($"export truncated: it ends before {where}; the end record is missing");
            if (rest.Length < RecordHeader) throw new LogFormatException($"export truncated: {where} is cut short in its header ({rest.Length} of {RecordHeader} bytes)");
            long length = BinaryPrimitives.ReadUInt32LittleEndian(rest);
            if (length == 0) throw new LogFormatException($"export corrupt: {where} is empty (no kind byte)");
            if (length > rest.Length - RecordHeader)
                throw new LogFormatException($"export truncated: {where} declares {length} bytes, only {rest.Length - RecordHeader} present");
            var body = rest.Slice(RecordHeader, (int)length);
            if (Crc32.Compute(body) != BinaryPrimitives.ReadUInt32LittleEndian(rest[4..]))
                throw new LogFormatException($"export corrupt: {where} fails its checksum");
            var kind = (Kind)body[0];
            if (!Enum.IsDefined(kind)) throw new LogFormatException($"export corrupt: {where} has unknown kind {body[0]}");
            if (expected is { } wanted && kind != wanted)
                throw new LogFormatException($"export corrupt: {where} is a record of kind {kind}, expected {wanted}");
            Offset += RecordHeader + (int)length;
            Count++;
            return new Record(kind, body[1..], where);
        }
    }
}
