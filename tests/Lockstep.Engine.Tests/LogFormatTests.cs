using System.Buffers.Binary;
using Lockstep.Engine.Recording;

namespace Lockstep.Engine.Tests;

public sealed class LogFormatTests : IDisposable
{
    private const int FileHeaderSize = 8 + 2 + 4 + 32;
    private readonly string _dir = Directory.CreateTempSubdirectory("lockstep-log-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly LogHeader Header = new(16 * 1024 * 1024, Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray());

    private static LogSegment[] SampleSegments() =>
    [
        new(0, 1000,
        [
            new LogEntry(EntryKind.Mtime, 3, 1_000_000),
            new LogEntry(EntryKind.Mtime, 4, 999_000),                 // a clock value going down still round-trips
            new LogEntry(EntryKind.Rtc, 10, 1_700_000_000_000_000_000),
            new LogEntry(EntryKind.Random, 10, 0xDEADBEEF),
            new LogEntry(EntryKind.Packet, 500, 0, 7, "1 PUT a 5"u8.ToArray()),
            new LogEntry(EntryKind.Packet, 500, 0, 0xFFFFFFFF, []),
            new LogEntry(EntryKind.TimerOn, 700),
            new LogEntry(EntryKind.TimerOff, 999),
        ]),
        new(8, 5000, [new LogEntry(EntryKind.Mtime, 4000, ulong.MaxValue), new LogEntry(EntryKind.Random, 4999, 0)]),
        new(10, 5000, []),
        new(10, 1UL << 40, [new LogEntry(EntryKind.Rtc, 1UL << 39, 5)], Final: true, FinalStateHash: 0x0123456789ABCDEF),
    ];

    private static void AssertSameSegment(LogSegment expected, LogSegment actual)
    {
        Assert.Equal((expected.FirstEntryIndex, expected.Horizon, expected.Final, expected.FinalStateHash),
            (actual.FirstEntryIndex, actual.Horizon, actual.Final, actual.FinalStateHash));
        Assert.Equal(expected.Entries.Length, actual.Entries.Length);
        for (int i = 0; i < expected.Entries.Length; i++)
        {
            var (e, a) = (expected.Entries[i], actual.Entries[i]);
            Assert.Equal((e.Kind, e.Position, e.Value, e.Peer), (a.Kind, a.Position, a.Value, a.Peer));
            Assert.Equal(e.Data ?? [], a.Data ?? []);
        }
    }

    [Fact]
    public void Codec_round_trips_every_entry_kind()
    {
        foreach (var segment in SampleSegments())
        {
            byte[] frame = LogCodec.Encode(segment);
            Assert.Equal(frame.Length, LogCodec.FrameLength(frame));
            AssertSameSegment(segment, LogCodec.Decode(frame, "test"));
        }
    }

    [Fact]
    public void Codec_round_trips_random_segments()
    {
        var random = new Random(99);
        var kinds = Enum.GetValues<EntryKind>();
        for (int round = 0; round < 50; round++)
        {
            ulong position = (ulong)random.NextInt64(0, 1L << 40);
            var entries = new LogEntry[random.Next(0, 200)];
            for (int i = 0; i < entries.Length; i++)
            {
                position += (ulong)random.Next(0, 100_000);
                var kind = kinds[random.Next(kinds.Length)];
                entries[i] = kind switch
                {
                    EntryKind.Mtime or EntryKind.Rtc => new LogEntry(kind, position, (ulong)random.NextInt64()),
                    EntryKind.Random => new LogEntry(kind, position, (uint)random.Next()),
                    EntryKind.Packet => new LogEntry(kind, position, 0, (uint)random.Next(), RandomBytes(random, random.Next(0, 300))),
                    _ => new LogEntry(kind, position),
                };
            }
            var segment = new LogSegment(random.Next(0, 1_000_000), position + 1, entries, random.Next(2) == 0,
                random.Next(2) == 0 ? (ulong)random.NextInt64() : null);
            AssertSameSegment(segment, LogCodec.Decode(LogCodec.Encode(segment), "random"));
        }
    }

    [Fact]
    public void Frame_length_needs_a_whole_header()
    {
        byte[] frame = LogCodec.Encode(SampleSegments()[0]);
        Assert.Equal(-1, LogCodec.FrameLength(frame.AsSpan(0, 7)));
        Assert.Equal(frame.Length, LogCodec.FrameLength(frame.AsSpan(0, 8)));
    }

    [Fact]
    public void Codec_refuses_damaged_frames()
    {
        byte[] frame = LogCodec.Encode(SampleSegments()[0]);
        Assert.Contains("truncated", Assert.Throws<LogFormatException>(() => LogCodec.Decode(frame.AsSpan(0, 5), "seg X")).Message);
        Assert.Contains("truncated", Assert.Throws<LogFormatException>(() => LogCodec.Decode(frame.AsSpan(0, frame.Length - 1), "seg X")).Message);

        for (int at = LogCodec.FrameHeaderSize; at < frame.Length; at++)
        {
            byte[] damaged = (byte[])frame.Clone();
            damaged[at] ^= 0x10;
            var e = Assert.Throws<LogFormatException>(() => LogCodec.Decode(damaged, "seg X"));
            Assert.Contains("checksum", e.Message);
            Assert.Contains("seg X", e.Message);
        }
    }

    [Fact]
    public void Codec_refuses_a_body_that_passes_its_checksum_but_is_malformed()
    {
        // A well-formed frame around a body that claims more entries than it holds.
        byte[] body = [0x00, 0x10, 0x00, 0x05, (byte)EntryKind.TimerOn, 0x01];
        byte[] frame = new byte[LogCodec.FrameHeaderSize + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), Crc32.Compute(body));
        body.CopyTo(frame, LogCodec.FrameHeaderSize);
        var e = Assert.Throws<LogFormatException>(() => LogCodec.Decode(frame, "segment 3"));
        Assert.Contains("corrupt", e.Message);
        Assert.Contains("segment 3", e.Message);

        // Unknown entry kind.
        body = [0x00, 0x10, 0x00, 0x01, 0x63, 0x01];
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), Crc32.Compute(body));
        body.CopyTo(frame, LogCodec.FrameHeaderSize);
        Assert.Contains("unknown kind", Assert.Throws<LogFormatException>(() => LogCodec.Decode(frame, "segment 3")).Message);
    }

    [Fact]
    public void Crc32_is_the_ieee_checksum()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute([]));
    }

    private string WriteLog(IEnumerable<LogSegment> segments, string name = "test.log")
    {
        string path = Path.Combine(_dir, name);
        using var file = File.Create(path);
        LogFile.WriteHeader(file, Header);
        foreach (var segment in segments) LogFile.WriteSegment(file, segment);
        return path;
    }

    [Fact]
    public void Log_file_round_trips()
    {
        var segments = SampleSegments();
        var (header, read) = LogFile.Read(WriteLog(segments));
        Assert.Equal(Header.MemorySize, header.MemorySize);
        Assert.Equal(Header.ImageSha256, header.ImageSha256);
        Assert.Equal(segments.Length, read.Count);
        for (int i = 0; i < segments.Length; i++) AssertSameSegment(segments[i], read[i]);
    }

    /// <summary>Offset of segment <paramref name="index"/>'s frame in a log file of <see cref="SampleSegments"/>.</summary>
    private static int FrameOffset(int index) =>
        FileHeaderSize + SampleSegments().Take(index).Sum(s => LogCodec.Encode(s).Length);

    [Fact]
    public void A_flipped_byte_in_a_segment_body_names_the_checksum_and_the_segment()
    {
        string path = WriteLog(SampleSegments());
        byte[] bytes = File.ReadAllBytes(path);
        bytes[FrameOffset(1) + LogCodec.FrameHeaderSize + 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        var e = Assert.Throws<LogFormatException>(() => LogFile.Read(path));
        Assert.Contains("checksum", e.Message);
        Assert.Contains("segment 1", e.Message);
    }

    [Fact]
    public void A_flipped_checksum_byte_is_caught_too()
    {
        string path = WriteLog(SampleSegments());
        byte[] bytes = File.ReadAllBytes(path);
        bytes[FrameOffset(3) + 5] ^= 0x80;
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<LogFormatException>(() => LogFile.Read(path));
        Assert.Contains("checksum", e.Message);
        Assert.Contains("segment 3", e.Message);
    }

    [Theory]
    [InlineData(1, 3)]   // inside segment 1's frame header
    [InlineData(1, 12)]  // inside segment 1's body
    [InlineData(3, -1)]  // one byte short of the end
    public void A_log_cut_short_inside_a_segment_is_truncated(int segment, int intoFrame)
    {
        string path = WriteLog(SampleSegments());
        byte[] bytes = File.ReadAllBytes(path);
        int length = intoFrame >= 0 ? FrameOffset(segment) + intoFrame : bytes.Length + intoFrame;
        File.WriteAllBytes(path, bytes[..length]);

        var e = Assert.Throws<LogFormatException>(() => LogFile.Read(path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains($"segment {segment}", e.Message);
    }

    [Fact]
    public void A_log_without_its_final_segment_is_truncated()
    {
        string path = WriteLog(SampleSegments()[..3]);
        var e = Assert.Throws<LogFormatException>(() => LogFile.Read(path));
        Assert.Contains("truncated", e.Message);
        Assert.Contains("final segment", e.Message);

        string empty = WriteLog([], "empty.log");
        Assert.Contains("truncated", Assert.Throws<LogFormatException>(() => LogFile.Read(empty)).Message);
    }

    [Fact]
    public void Segments_after_the_final_one_or_out_of_sequence_are_corrupt()
    {
        var segments = SampleSegments();
        var afterFinal = WriteLog([.. segments, new LogSegment(11, 1UL << 41, [])], "after.log");
        Assert.Contains("after the final segment", Assert.Throws<LogFormatException>(() => LogFile.Read(afterFinal)).Message);

        var gap = WriteLog([segments[0], segments[3]], "gap.log");
        var e = Assert.Throws<LogFormatException>(() => LogFile.Read(gap));
        Assert.Contains("does not follow", e.Message);
        Assert.Contains("segment 1", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_log_says_so()
    {
        string path = Path.Combine(_dir, "notes.txt");
        File.WriteAllText(path, "this is a text file and certainly not a Lockstep event log\n");
        var e = Assert.Throws<LogFormatException>(() => LogFile.Read(path));
        Assert.Contains("not a Lockstep log", e.Message);
        Assert.Contains(path, e.Message);

        File.WriteAllBytes(path, []);
        Assert.Contains("not a Lockstep log", Assert.Throws<LogFormatException>(() => LogFile.Read(path)).Message);

        File.WriteAllBytes(path, Repo.GuestImage("hello"));
        Assert.Contains("not a Lockstep log", Assert.Throws<LogFormatException>(() => LogFile.Read(path)).Message);
    }

    [Theory]
    [InlineData(99)]
    [InlineData(1)] // before exact counter writes and the written-pages state hash
    public void A_log_of_another_format_version_is_refused(int version)
    {
        string path = WriteLog(SampleSegments());
        byte[] bytes = File.ReadAllBytes(path);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)version);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<LogFormatException>(() => LogFile.Read(path));
        Assert.Contains($"version {version}", e.Message);
    }

    [Fact]
    public void Recorder_cuts_consecutive_segments()
    {
        var recorder = new EventRecorder(firstEntryIndex: 5);
        recorder.Append(new LogEntry(EntryKind.Random, 1, 1));
        recorder.Append(new LogEntry(EntryKind.Random, 2, 2));
        var first = recorder.Cut(10);
        Assert.Equal((5L, 10UL, 2, false), (first.FirstEntryIndex, first.Horizon, first.Entries.Length, first.Final));
        Assert.Equal(7L, recorder.EntryCount);
        Assert.Equal(0, recorder.PendingCount);
        recorder.Append(new LogEntry(EntryKind.TimerOn, 12));
        var second = recorder.Cut(20, final: true, finalStateHash: 3);
        Assert.Equal((7L, 20UL, 1, true, (ulong?)3), (second.FirstEntryIndex, second.Horizon, second.Entries.Length, second.Final, second.FinalStateHash));
        Assert.Equal(8L, second.EndEntryIndex);
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
