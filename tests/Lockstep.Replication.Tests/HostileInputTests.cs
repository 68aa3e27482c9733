using System.Net;
using System.Net.Sockets;
using Lockstep.Engine.Recording;
using Lockstep.Harness.Fuzzing;
using Lockstep.Replication.Channel;
using Lockstep.Replication.FrontDoor;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The replication decoders of bytes from other hosts and from clients, fed thousands of spoiled inputs
/// (<see cref="Mutator"/>, seeded: a failure names the seed that makes its input again): link frames on their
/// own and as streams on a real link from a hostile peer of either side, the front door's line framer and the
/// peer ids of datagram clients. The engine's decoders (log, checkpoints, ELF) have their own in the engine's tests.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly NodeLinks _primaries = new("127.0.0.2", 0, LockstepSettings.Default);
    private readonly NodeLinks _secondaries = new("127.0.0.3", 0, LockstepSettings.Default);

    public void Dispose()
    {
        _primaries.Dispose();
        _secondaries.Dispose();
    }

    /// <summary>One of every frame the channel carries, as its sender encodes it.</summary>
    private static byte[][] ValidFrames()
    {
        var segment = new LogSegment(4, 900, [new LogEntry(EntryKind.Mtime, 3, 1000), new LogEntry(EntryKind.Packet, 500, 0, 7, "1 GET a"u8.ToArray())]);
        Frame[] frames =
        [
            SegmentFrame.Of(3, segment), new AckFrame(4, 900, 800), new SnapshotFrame(4, 3, 900, new byte[64]),
            new HandoverFrame(900, 6, 3), new HashCheckFrame(900, 0xABCDEF), new HashResultFrame(900, 0xABCDEF),
            new HelloFrame("vm-name", AttachToken.New().Bytes), new PartFrame(false, new byte[40]), new SnapshotPagesFrame(new byte[30]),
            new DeliveryMarksFrame(new byte[12]), GoodbyeFrame.Instance, RefusedFrame.Instance, DropFrame.Instance, HeartbeatFrame.Instance,
        ];
        return frames.Select(f => FrameCodec.Encode(1, f)).ToArray();
    }

    [Fact]
    public void Spoiled_frames_are_decoded_or_refused_with_a_frame_format_error()
    {
        var frames = ValidFrames();
        var outcome = FuzzRun.Run("FrameCodec.Decode", FuzzRun.Cases(8000), random => Mutator.Mutate(frames[random.Next(frames.Length)], random), bytes =>
        {
            if (bytes.Length < FrameCodec.HeaderSize) return;
            int length = FrameCodec.PayloadLength(bytes, 1 + NodeLink.PieceSize);
            // What the reader does with a header whose length the bytes do not hold: waits for more, then the link ends.
            if (length > bytes.Length - FrameCodec.HeaderSize) return;
            FrameCodec.Decode(bytes[0], bytes.AsSpan(FrameCodec.HeaderSize, length).ToArray());
        }, [typeof(FrameFormatException)], length => 64L * length + 4096);
        Assert.True(outcome.Accepted > 0 && outcome.Refused > 0, Describe(outcome));
    }

    /// <summary>What a peer sends on an open channel 1: short frames, a frame in parts, and an end.</summary>
    private static byte[] ChannelStream(bool fromSecondary)
    {
        var stream = new MemoryStream();
        void Add(Frame frame) => stream.Write(FrameCodec.Encode(1, frame));
        if (fromSecondary)
        {
            Add(new AckFrame(10, 2000, 1500));
            Add(new HashResultFrame(2000, 99));
        }
        else
        {
            Add(SegmentFrame.Of(0, new LogSegment(0, 2000, [new LogEntry(EntryKind.Random, 10, 5)])));
            Add(new HashCheckFrame(2000, 99));
        }
        byte[] large = FrameCodec.Encode(1, new SnapshotPagesFrame(new byte[300]));
        Add(new PartFrame(false, large.AsMemory(0, 100)));
        Add(new PartFrame(true, large.AsMemory(100)));
        Add(HeartbeatFrame.Instance);
        stream.Write(FrameCodec.Encode(FrameCodec.LinkChannel, HeartbeatFrame.Instance));
        Add(GoodbyeFrame.Instance);
        return stream.ToArray();
    }

    /// <summary>
    /// A node that a primary connected to (the secondary's side) answers with spoiled streams: each ends that
    /// link or channel, none takes the primaries' node down, and its links still work afterwards.
    /// </summary>
    [Fact]
    public void Spoiled_streams_from_the_node_a_primary_connected_to_end_only_that_link()
    {
        using var listener = new TcpListener(IPAddress.Parse("127.0.0.4"), 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        byte[] valid = ChannelStream(fromSecondary: true);
        int delivered = 0;
        var outcome = FuzzRun.Run("link stream to a primary", FuzzRun.Cases(150), random => Mutator.Mutate(valid, random), bytes =>
        {
            var end = new LinkEnd { Handle = _ => Interlocked.Increment(ref delivered) };
            end.Channel = _primaries.Open("127.0.0.4", port, "vm", AttachToken.New(), end.OnFrame, end.OnClosed, TimeSpan.FromSeconds(5));
            using (var hostile = listener.AcceptSocket())
            {
                hostile.Send(bytes);
                hostile.Shutdown(SocketShutdown.Send);
                if (!end.WaitClosed()) throw new InvalidOperationException("the channel outlived its link's end of stream");
            }
            if (end.Closes != 1) throw new InvalidOperationException($"the close callback ran {end.Closes} times");
        }, [], _ => 8L << 20);
        Assert.True(delivered > 0, "no spoiled stream delivered a frame: the cases never got past the first header");
        Assert.Equal(outcome.Accepted, FuzzRun.Cases(150));
        LinksStillWork();
    }

    /// <summary>A primary that presented the right token, then sends spoiled streams: the secondary's channel ends, its node stays.</summary>
    [Fact]
    public void Spoiled_streams_from_an_admitted_primary_end_only_that_channel()
    {
        byte[] valid = ChannelStream(fromSecondary: false);
        int delivered = 0, opened = 0;
        var outcome = FuzzRun.Run("link stream to a secondary", FuzzRun.Cases(150), random => Mutator.Mutate(valid, random), bytes =>
        {
            var token = AttachToken.New();
            var end = new LinkEnd { Handle = _ => Interlocked.Increment(ref delivered) };
            using var expected = _secondaries.Expect("vm", token, channel =>
            {
                end.Channel = channel;
                Interlocked.Increment(ref opened);
            }, end.OnFrame, end.OnClosed, end.OnRefused);
            using var hostile = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            hostile.Connect(_secondaries.Host, _secondaries.Port);
            hostile.Send([.. FrameCodec.Encode(1, new HelloFrame("vm", token.Bytes)), .. bytes]);
            hostile.Shutdown(SocketShutdown.Send);
            // The secondaries' node closes the connection whatever came: end of stream, a malformed frame, or a goodbye and then the end.
            hostile.ReceiveTimeout = 10_000;
            var buffer = new byte[4096];
            try
            {
                while (hostile.Receive(buffer) > 0) { }
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset) { }
            if (!end.WaitClosed()) throw new InvalidOperationException("the admitted channel outlived its link");
        }, [], _ => 8L << 20);
        Assert.Equal(FuzzRun.Cases(150), opened);
        Assert.True(delivered > 0, "no spoiled stream delivered a frame");
        Assert.Equal(outcome.Accepted, FuzzRun.Cases(150));
        LinksStillWork();
    }

    private void LinksStillWork()
    {
        var (primary, secondary) = LinkEnd.Open(_primaries, _secondaries, "after-the-storm");
        primary.Channel!.Send(new HashCheckFrame(1, 2));
        Assert.IsType<HashCheckFrame>(secondary.Next());
    }

    /// <summary>An admitted peer announces a frame of a gigabyte in parts and sends a little of it: the reader holds what came, not what was announced.</summary>
    [Fact]
    public void A_frame_announced_huge_in_parts_allocates_what_arrives_not_what_it_announces()
    {
        var token = AttachToken.New();
        var end = new LinkEnd();
        using var expected = _secondaries.Expect("vm", token, channel => end.Channel = channel, end.OnFrame, end.OnClosed, end.OnRefused);
        using var hostile = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        hostile.Connect(_secondaries.Host, _secondaries.Port);
        var header = new byte[FrameCodec.HeaderSize];
        header[0] = (byte)FrameType.SnapshotPages;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(1), 1);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(5), FrameCodec.MaxPayload);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        hostile.Send([.. FrameCodec.Encode(1, new HelloFrame("vm", token.Bytes)), .. FrameCodec.Encode(1, new PartFrame(false, header)),
            .. FrameCodec.Encode(1, new PartFrame(false, new byte[1000]))]);
        Assert.True(SpinWait.SpinUntil(() => end.Channel is not null, TimeSpan.FromSeconds(10)));
        Thread.Sleep(200);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(allocated < 256 << 20, $"{allocated} bytes allocated for 1 KB of a frame announced at {FrameCodec.MaxPayload} bytes");
        Assert.True(end.Channel!.IsOpen);
    }

    [Fact]
    public void Spoiled_tcp_byte_streams_are_cut_into_lines_no_longer_than_the_limit()
    {
        const int max = 64;
        byte[] valid = "1 PUT a 5\n2 GET a\r\n3 INCR n\n"u8.ToArray();
        var outcome = FuzzRun.Run("LineFramer.Feed", FuzzRun.Cases(5000), random =>
        {
            byte[] spoiled = Mutator.Mutate(valid, random);
            return random.Next(8) != 0 ? spoiled : [.. spoiled, .. Enumerable.Repeat((byte)'x', max + random.Next(3)), (byte)'\n', .. spoiled];
        }, bytes =>
        {
            var framer = new LineFramer(max);
            var random = new Random(bytes.Length);
            int lines = 0, tooLong = 0, at = 0;
            while (at < bytes.Length)
            {
                // As TCP delivers it: in pieces of any size.
                int piece = Math.Min(bytes.Length - at, 1 + random.Next(20));
                framer.Feed(bytes.AsSpan(at, piece), line =>
                {
                    if (line.Length > max || line.Contains((byte)'\n')) throw new InvalidOperationException($"a line of {line.Length} bytes was handed on");
                    lines++;
                }, () => tooLong++);
                if (framer.Pending > max + 1) throw new InvalidOperationException($"{framer.Pending} bytes held for one line");
                at += piece;
            }
            int ended = bytes.Count(b => b == '\n');
            // Each '\n' ends a line handed on or an oversized one skipped; the last oversized one may not have ended yet.
            if (lines + tooLong != ended && lines + tooLong != ended + 1) throw new InvalidOperationException($"{ended} line ends gave {lines} lines and {tooLong} refusals");
        }, [], length => 64L * length + 4096);
        Assert.Equal(FuzzRun.Cases(5000), outcome.Accepted);
    }

    /// <summary>Records what a UDP door reports, in order.</summary>
    private sealed class DatagramFacts : IDoorFacts
    {
        public readonly System.Collections.Concurrent.BlockingCollection<(byte[]? Data, int Length)> Seen = new();
        public void Datagram(IPEndPoint client, byte[] data) => Seen.Add((data, data.Length));
        public void DatagramTooLarge(IPEndPoint client, int length) => Seen.Add((null, length));
        public void Connected(long connection, IPEndPoint client) { }
        public void Line(long connection, byte[] data) { }
        public void LineTooLong(long connection) { }
        public void ReadEnded(long connection) { }
        public void Disconnected(long connection, string why) { }
        public void DoorFailed(string what, string why) => Seen.Add((null, -1));
    }

    [Fact]
    public void Datagrams_of_any_size_and_content_are_reported_whole_or_refused_whole()
    {
        const int max = 1000, port = 6041; // this suite's fixed ports are 6000-6099
        var facts = new DatagramFacts();
        using var door = new UdpDoor(IPAddress.Loopback, port, max, facts);
        door.Start();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var to = new IPEndPoint(IPAddress.Loopback, port);
        var outcome = FuzzRun.Run("UdpDoor", FuzzRun.Cases(1500), random =>
        {
            var bytes = new byte[random.Next(4) == 0 ? random.Next(max + 1, 65_000) : random.Next(max + 1)];
            random.NextBytes(bytes);
            return bytes;
        }, bytes =>
        {
            client.SendTo(bytes, to);
            if (!facts.Seen.TryTake(out var seen, TimeSpan.FromSeconds(5))) throw new TimeoutException($"a datagram of {bytes.Length} bytes was not reported");
            if (seen.Length != bytes.Length || (bytes.Length <= max) != (seen.Data is not null) || (seen.Data is { } data && !data.AsSpan().SequenceEqual(bytes)))
                throw new InvalidOperationException($"a datagram of {bytes.Length} bytes was reported as {(seen.Data is null ? "refused" : "data")} of {seen.Length}");
        }, [], length => 64L * length + 64 * 1024);
        Assert.Equal(FuzzRun.Cases(1500), outcome.Accepted);
    }

    [Fact]
    public void Every_datagram_client_gets_a_front_door_peer_id_the_same_on_every_node()
    {
        var outcome = FuzzRun.Run("PeerIds.ForDatagram", FuzzRun.Cases(5000), random =>
        {
            var bytes = new byte[random.Next(2) == 0 ? 4 : 16];
            random.NextBytes(bytes);
            return [.. bytes, (byte)random.Next(256), (byte)random.Next(256)];
        }, bytes =>
        {
            var address = new IPAddress(bytes.AsSpan(0, bytes.Length - 2));
            var client = new IPEndPoint(address, bytes[^2] << 8 | bytes[^1]);
            uint peer = PeerIds.ForDatagram(6000, client);
            if (!PeerIds.IsDatagramPeer(peer) || PeerIds.IsConnectionPeer(peer)) throw new InvalidOperationException($"{client} got peer {peer:x8}");
            if (address.AddressFamily == AddressFamily.InterNetwork && PeerIds.ForDatagram(6000, new IPEndPoint(address.MapToIPv6(), client.Port)) != peer)
                throw new InvalidOperationException($"{client} over IPv6 is another peer");
        }, [], _ => 64 * 1024);
        Assert.Equal(FuzzRun.Cases(5000), outcome.Accepted);
    }

    private static string Describe(FuzzRun.Outcome outcome) =>
        $"endings: {string.Join(", ", outcome.Endings.Select(e => $"{e.Key} {e.Value}"))}; most allocated {outcome.MostAllocated} bytes";
}
