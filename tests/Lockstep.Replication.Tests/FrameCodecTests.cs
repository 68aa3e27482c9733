using Lockstep.Engine.Recording;
using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Tests;

/// <summary>The one codec of the lockstep channel: every frame survives the trip, and what does not decode is refused by name.</summary>
public sealed class FrameCodecTests
{
    public static TheoryData<Frame> Frames() => new()
    {
        new HelloFrame("kv-7", AttachToken.New().Bytes),
        new SnapshotPagesFrame([1, 2, 3, 4]),
        new SnapshotFrame(17, 42, 123_456_789, [9, 8, 7]),
        SegmentFrame.Of(5, new LogSegment(3, 1000, [new LogEntry(EntryKind.Mtime, 900, 77)])),
        new AckFrame(11, 2000, 1500),
        GoodbyeFrame.Instance,
        new HashCheckFrame(99, 0xdead_beef_cafe_f00d),
        new HashResultFrame(99, 0x0123_4567_89ab_cdef),
        new DeliveryMarksFrame([5, 6]),
        RefusedFrame.Instance,
        DropFrame.Instance,
        HeartbeatFrame.Instance,
        new PartFrame(true, new byte[] { 1, 2, 3 }),
        new HandoverFrame(123_456_789, 42, 7),
        new PingFrame(0x1234_5678_9abc),
        new PongFrame(0x1234_5678_9abc, 77),
        new AuthorityFrame(987_654_321),
        new AuthorityTakenFrame(987_654_321),
    };

    [Theory]
    [MemberData(nameof(Frames))]
    public void Every_frame_decodes_to_what_was_encoded(Frame frame)
    {
        byte[] bytes = FrameCodec.Encode(0xdead_0042, frame);
        Assert.Equal((byte)frame.Type, bytes[0]);
        Assert.Equal(0xdead_0042u, FrameCodec.ChannelOf(bytes));
        Assert.Equal(bytes.Length - FrameCodec.HeaderSize, FrameCodec.PayloadLength(bytes));
        var decoded = FrameCodec.Decode(bytes[0], bytes[FrameCodec.HeaderSize..]);
        Assert.Equal(frame.GetType(), decoded.GetType());
        Assert.Equal(bytes, FrameCodec.Encode(0xdead_0042, decoded)); // records with arrays compare by reference: compare the bytes
    }

    [Fact]
    public void A_segment_keeps_its_entries()
    {
        var segment = new LogSegment(3, 1000, [new LogEntry(EntryKind.Mtime, 900, 77), new LogEntry(EntryKind.Random, 950, 5)]);
        byte[] bytes = FrameCodec.Encode(3, SegmentFrame.Of(8, segment));
        var decoded = Assert.IsType<SegmentFrame>(FrameCodec.Decode(bytes[0], bytes[FrameCodec.HeaderSize..]));
        Assert.Equal(8UL, decoded.ReleasedSeq);
        Assert.Equal(segment.Horizon, decoded.Segment.Horizon);
        Assert.Equal(segment.Entries, decoded.Segment.Entries);
    }

    [Theory]
    [InlineData(0, 0, "unknown frame type 0")]
    [InlineData(200, 1, "unknown frame type 200")]
    [InlineData((int)FrameType.Ack, 3, "Ack frame of 3 bytes, not 24")]
    [InlineData((int)FrameType.HashCheck, 20, "HashCheck frame of 20 bytes, not 16")]
    [InlineData((int)FrameType.Snapshot, 10, "Snapshot frame of 10 bytes, shorter than 24")]
    [InlineData((int)FrameType.Goodbye, 1, "Goodbye frame of 1 bytes, not 0")]
    [InlineData((int)FrameType.Ping, 7, "Ping frame of 7 bytes, not 8")]
    [InlineData((int)FrameType.Pong, 8, "Pong frame of 8 bytes, not 16")]
    [InlineData((int)FrameType.Segment, 4, "Segment frame of 4 bytes, shorter than 8")]
    [InlineData((int)FrameType.Hello, 31, "Hello frame of 31 bytes, shorter than 32")]
    [InlineData((int)FrameType.Hello, 32 + 257, "Hello frame of 289 bytes, longer than 288")]
    [InlineData((int)FrameType.Heartbeat, 2, "Heartbeat frame of 2 bytes, not 0")]
    [InlineData((int)FrameType.Part, 0, "Part frame of 0 bytes, shorter than 1")]
    [InlineData(8, 0, "unknown frame type 8")]
    [InlineData((int)FrameType.Handover, 16, "Handover frame of 16 bytes, not 24")]
    [InlineData((int)FrameType.Authority, 9, "Authority frame of 9 bytes, not 8")]
    [InlineData((int)FrameType.AuthorityTaken, 0, "AuthorityTaken frame of 0 bytes, not 8")]
    public void A_frame_that_does_not_decode_is_refused_with_what_is_wrong(int type, int length, string message)
    {
        var e = Assert.Throws<FrameFormatException>(() => FrameCodec.Decode((byte)type, new byte[length]));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void A_segment_with_a_corrupt_log_inside_is_refused()
    {
        byte[] bytes = FrameCodec.Encode(1, SegmentFrame.Of(1, new LogSegment(0, 10, [new LogEntry(EntryKind.Mtime, 5, 1)])));
        bytes[^1] ^= 0xff; // inside the log's checksummed part
        var e = Assert.Throws<FrameFormatException>(() => FrameCodec.Decode(bytes[0], bytes[FrameCodec.HeaderSize..]));
        Assert.StartsWith("corrupt log segment", e.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(FrameCodec.MaxPayload + 1)]
    public void A_header_announcing_an_impossible_length_is_refused_before_anything_is_allocated(int length)
    {
        var header = new byte[FrameCodec.HeaderSize];
        header[0] = (byte)FrameType.Snapshot;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(5), length);
        Assert.Throws<FrameFormatException>(() => FrameCodec.PayloadLength(header));
    }

    [Fact]
    public void A_part_flag_other_than_0_or_1_and_a_vm_name_that_is_not_utf8_are_refused()
    {
        Assert.Throws<FrameFormatException>(() => FrameCodec.Decode((byte)FrameType.Part, [2, 9]));
        var hello = new byte[AttachToken.Length + 2];
        hello[^2] = 0xc3; // a lead byte followed by no continuation
        hello[^1] = 0x28;
        Assert.Throws<FrameFormatException>(() => FrameCodec.Decode((byte)FrameType.Hello, hello));
    }
}
