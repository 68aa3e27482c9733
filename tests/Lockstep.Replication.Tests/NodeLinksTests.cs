using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Lockstep.Engine.Recording;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Tests;

/// <summary>
/// Many VMs' channels over one connection between two nodes' links: each VM's frames reach that VM,
/// one VM's stall or end leaves the others alone, and what ends the link ends every channel on it once.
/// Two "nodes" per test on their own loopback addresses (127.0.0.2 primaries, 127.0.0.3 secondaries).
/// </summary>
public sealed class NodeLinksTests : IDisposable
{
    private readonly NodeLinks _primaries;
    private readonly NodeLinks _secondaries;
    private readonly ConcurrentQueue<string> _log = new();

    public NodeLinksTests() : this(LockstepSettings.Default) { }

    private NodeLinksTests(LockstepSettings settings)
    {
        _primaries = new NodeLinks("127.0.0.2", 0, settings);
        _secondaries = new NodeLinks("127.0.0.3", 0, settings);
        _primaries.Logged += _log.Enqueue;
        _secondaries.Logged += _log.Enqueue;
    }

    public void Dispose()
    {
        _primaries.Dispose();
        _secondaries.Dispose();
    }

    [Fact]
    public void Fifty_vms_share_one_connection_and_each_gets_its_own_frames_both_ways()
    {
        var pairs = Enumerable.Range(0, 50).Select(i => LinkEnd.Open(_primaries, _secondaries, $"vm{i}")).ToList();
        for (int i = 0; i < pairs.Count; i++) pairs[i].Primary.Channel!.Send(SegmentFrame.Of((ulong)i, new LogSegment(0, (ulong)(1000 + i), [])));
        for (int i = 0; i < pairs.Count; i++) pairs[i].Secondary.Channel!.Send(new AckFrame(i, (ulong)(2000 + i), 0));
        for (int i = 0; i < pairs.Count; i++)
        {
            Assert.Equal((ulong)(1000 + i), Assert.IsType<SegmentFrame>(pairs[i].Secondary.Next()).Segment.Horizon);
            Assert.Equal((ulong)(2000 + i), Assert.IsType<AckFrame>(pairs[i].Primary.Next()).Horizon);
        }
        Assert.Equal(1, _secondaries.AcceptedConnections);
        Assert.Single(_primaries.Links());
        Assert.Equal(50, _primaries.Links()[0].ChannelCount);
    }

    [Fact]
    public void Both_ends_of_a_link_measure_its_round_trip_by_pings()
    {
        LinkEnd.Open(_primaries, _secondaries, "rtt");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && (_primaries.Links().Sum(l => l.RoundTrips.Snapshot().Count) < 2 || _secondaries.Links().Sum(l => l.RoundTrips.Snapshot().Count) < 1))
            Thread.Sleep(50);
        var opened = Assert.Single(_primaries.Links());
        var accepted = Assert.Single(_secondaries.Links());
        Assert.True(opened.RoundTrips.Snapshot().Count >= 2, $"{opened.RoundTrips.Snapshot().Count} round trips measured by the side that connected");
        Assert.True(accepted.RoundTrips.Snapshot().Count >= 1, "no round trip measured by the side that accepted");
        // Loopback: well under the heartbeat interval, which the answer's wait for the timer would otherwise add.
        Assert.InRange(opened.LastRoundTripMs!.Value, 0, LockstepSettings.Default.HeartbeatInterval.TotalMilliseconds);
        Assert.True(opened.IsOpen && accepted.IsOpen);
    }

    [Fact]
    public void A_ping_on_a_vm_channel_ends_the_link_as_malformed()
    {
        var pair = LinkEnd.Open(_primaries, _secondaries, "pinged");
        pair.Primary.Channel!.Send(new PingFrame(1));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline && pair.Secondary.Channel!.IsOpen) Thread.Sleep(20);
        Assert.Equal(CloseReason.Malformed, pair.Secondary.Channel!.ClosedReason);
    }

    /// <summary>
    /// VM a's secondary side stops taking its frames off its queue (its replay is stuck) while its primary
    /// floods it; VM b's acks on receipt keep coming, as the reader thread only hands frames on.
    /// </summary>
    [Fact]
    public void A_vm_whose_secondary_stalls_does_not_stall_another_vms_acks()
    {
        var (stalledPrimary, stalledSecondary) = LinkEnd.Open(_primaries, _secondaries, "stalled");
        var (primary, _) = LinkEnd.Open(_primaries, _secondaries, "lively", secondary => secondary.Handle = frame =>
        {
            if (frame is SegmentFrame segment) secondary.Channel!.Send(new AckFrame(0, segment.Segment.Horizon, 0));
        });
        var flood = new Thread(() =>
        {
            for (int i = 0; i < 5000; i++) stalledPrimary.Channel!.Send(SegmentFrame.Of(0, new LogSegment(0, (ulong)i, [])));
        });
        flood.Start();
        for (ulong horizon = 1; horizon <= 200; horizon++)
        {
            primary.Channel!.Send(SegmentFrame.Of(0, new LogSegment(0, horizon, [])));
            Assert.Equal(horizon, Assert.IsType<AckFrame>(primary.Next()).Horizon);
        }
        flood.Join();
        Assert.True(SpinWait.SpinUntil(() => stalledSecondary.Frames.Count == 5000, TimeSpan.FromSeconds(10)), "the stalled VM's frames did not all queue");
        Assert.True(stalledPrimary.Channel!.IsOpen);
    }

    /// <summary>
    /// A frame far larger than a part (a RAM copy) goes in parts, and another VM's frame sent meanwhile
    /// goes between them, not after the whole copy. The peer here reads the raw link, so the order on the
    /// wire is what the test sees; it starts reading only once both senders are blocked on a full socket.
    /// </summary>
    [Fact]
    public void A_large_frame_goes_in_parts_and_another_vms_frame_passes_it_on_the_wire()
    {
        using var links = new NodeLinks("127.0.0.2", 0, LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromSeconds(20) });
        using var listener = new TcpListener(IPAddress.Parse("127.0.0.4"), 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var copy = links.Open("127.0.0.4", port, "copying", AttachToken.New(), _ => { }, () => { }, TimeSpan.FromSeconds(5));
        var other = links.Open("127.0.0.4", port, "other", AttachToken.New(), _ => { }, () => { }, TimeSpan.FromSeconds(5));
        using var peer = listener.AcceptSocket();
        var ram = new byte[32 << 20];
        new Random(3).NextBytes(ram);
        var sender = new Thread(() => copy.Send(new SnapshotPagesFrame(ram)));
        sender.Start();
        Thread.Sleep(300); // the socket buffers fill; the copy waits in a part
        var small = new Thread(() => other.Send(new AckFrame(1, 2, 3)));
        small.Start();
        Thread.Sleep(100);

        var frames = new List<(uint Channel, Frame Frame)>();
        var header = new byte[FrameCodec.HeaderSize];
        peer.ReceiveTimeout = 10_000;
        var assembled = new MemoryStream();
        while (true)
        {
            ReadExactly(peer, header);
            var payload = new byte[FrameCodec.PayloadLength(header)];
            ReadExactly(peer, payload);
            var frame = FrameCodec.Decode(header[0], payload);
            if (FrameCodec.ChannelOf(header) == FrameCodec.LinkChannel) continue; // heartbeats, round-trip pings
            frames.Add((FrameCodec.ChannelOf(header), frame));
            if (frame is PartFrame part)
            {
                Assert.True(part.Piece.Length <= NodeLink.PieceSize);
                assembled.Write(part.Piece.Span);
                if (part.Last) break;
            }
        }
        sender.Join();
        small.Join();
        var parts = frames.Where(f => f.Frame is PartFrame).ToList();
        int ackAt = frames.FindIndex(f => f.Frame is AckFrame);
        Assert.True(parts.Count >= ram.Length / NodeLink.PieceSize, $"{parts.Count} parts");
        Assert.True(ackAt >= 0 && ackAt < frames.Count - 1, $"the other VM's ack came at {ackAt} of {frames.Count} frames: after the whole copy");
        var whole = assembled.ToArray();
        var pages = Assert.IsType<SnapshotPagesFrame>(FrameCodec.Decode(whole[0], whole[FrameCodec.HeaderSize..]));
        Assert.Equal(ram, pages.Pages);
    }

    [Fact]
    public void A_large_frame_arrives_whole_between_two_nodes()
    {
        var (primary, secondary) = LinkEnd.Open(_primaries, _secondaries, "big");
        var state = new byte[5 << 20];
        new Random(5).NextBytes(state);
        primary.Channel!.Send(new SnapshotFrame(1, 2, 3, state));
        var snapshot = Assert.IsType<SnapshotFrame>(secondary.Next());
        Assert.Equal(state, snapshot.State);
        Assert.Equal(3UL, snapshot.Position);
    }

    [Fact]
    public void Disposing_the_secondaries_node_links_ends_every_channel_on_the_link_exactly_once()
    {
        var pairs = Enumerable.Range(0, 20).Select(i => LinkEnd.Open(_primaries, _secondaries, $"vm{i}")).ToList();
        _secondaries.Dispose();
        foreach (var (primary, secondary) in pairs)
        {
            Assert.True(primary.WaitClosed() && secondary.WaitClosed(), "a channel stayed open");
            Assert.True(primary.Channel!.ClosedReason is CloseReason.PeerClosed or CloseReason.PeerReset, $"{primary.Channel.ClosedReason}");
            Assert.Equal(CloseReason.Local, secondary.Channel!.ClosedReason);
        }
        Thread.Sleep(200); // any second report would come now
        Assert.All(pairs, p => Assert.Equal((1, 1), (p.Primary.Closes, p.Secondary.Closes)));
    }

    [Fact]
    public void A_cut_link_ends_its_channels_once_with_the_links_reason_and_the_next_open_connects_again()
    {
        var pairs = Enumerable.Range(0, 10).Select(i => LinkEnd.Open(_primaries, _secondaries, $"vm{i}")).ToList();
        _primaries.Links()[0].Close(CloseReason.ConnectionLost, "cut by the test");
        foreach (var (primary, secondary) in pairs)
        {
            Assert.True(primary.WaitClosed() && secondary.WaitClosed(), "a channel stayed open");
            Assert.Equal(CloseReason.ConnectionLost, primary.Channel!.ClosedReason);
            Assert.True(secondary.Channel!.ClosedReason is CloseReason.PeerClosed or CloseReason.PeerReset, $"{secondary.Channel.ClosedReason}");
        }
        SendOn(pairs[0].Primary); // sends on an ended channel go nowhere, and throw nothing
        Thread.Sleep(200);
        Assert.All(pairs, p => Assert.Equal((1, 1), (p.Primary.Closes, p.Secondary.Closes)));

        var (again, againSecondary) = LinkEnd.Open(_primaries, _secondaries, "again");
        again.Channel!.Send(new HashCheckFrame(1, 2));
        Assert.IsType<HashCheckFrame>(againSecondary.Next());
        Assert.Equal(2, _secondaries.AcceptedConnections);

        static void SendOn(LinkEnd end) => end.Channel!.Send(new HashCheckFrame(1, 1));
    }

    /// <summary>A node that freezes (connected, then says nothing, not even heartbeats): the link, and each channel on it, ends as Silent.</summary>
    [Fact]
    public void A_silent_peer_ends_the_link_and_every_channel_on_it_as_silent()
    {
        using var links = new NodeLinks("127.0.0.2", 0, LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromMilliseconds(300) });
        using var listener = new TcpListener(IPAddress.Parse("127.0.0.4"), 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var ends = Enumerable.Range(0, 5).Select(i =>
        {
            var end = new LinkEnd();
            end.Channel = links.Open("127.0.0.4", port, $"vm{i}", AttachToken.New(), end.OnFrame, end.OnClosed, TimeSpan.FromSeconds(5));
            return end;
        }).ToList();
        using var frozen = listener.AcceptSocket();
        Assert.All(ends, end => Assert.True(end.WaitClosed()));
        Assert.All(ends, end => Assert.Equal(CloseReason.Silent, end.Channel!.ClosedReason));
        Thread.Sleep(200);
        Assert.All(ends, end => Assert.Equal(1, end.Closes));
    }

    [Fact]
    public void A_wrong_token_is_refused_to_that_open_alone_and_the_secondary_it_was_aimed_at_hears_of_it()
    {
        var (lively, livelySecondary) = LinkEnd.Open(_primaries, _secondaries, "lively");
        var token = AttachToken.New();
        var expecting = new LinkEnd();
        var opened = new ManualResetEventSlim(false);
        _secondaries.Expect("target", token, channel =>
        {
            expecting.Channel = channel;
            opened.Set();
        }, expecting.OnFrame, expecting.OnClosed, expecting.OnRefused);

        var impostor = new LinkEnd();
        impostor.Channel = _primaries.Open(_secondaries.Host, _secondaries.Port, "target", AttachToken.New(), impostor.OnFrame, impostor.OnClosed, TimeSpan.FromSeconds(5));
        var stray = new LinkEnd();
        stray.Channel = _primaries.Open(_secondaries.Host, _secondaries.Port, "nobody", token, stray.OnFrame, stray.OnClosed, TimeSpan.FromSeconds(5));
        Assert.True(impostor.WaitClosed() && stray.WaitClosed(), "a refused open stayed open");
        Assert.Equal(CloseReason.Unauthenticated, impostor.Channel.ClosedReason);
        Assert.Equal(CloseReason.Unauthenticated, stray.Channel.ClosedReason);
        Assert.Equal(new[] { CloseReason.Unauthenticated }, expecting.Refusals); // the stray one was aimed at no secondary here
        Assert.False(opened.IsSet);

        // The link lives on: the other VM still talks, and the real primary is admitted on the same connection.
        lively.Channel!.Send(new HashCheckFrame(7, 7));
        Assert.IsType<HashCheckFrame>(livelySecondary.Next());
        var real = new LinkEnd();
        real.Channel = _primaries.Open(_secondaries.Host, _secondaries.Port, "target", token, real.OnFrame, real.OnClosed, TimeSpan.FromSeconds(5));
        Assert.True(opened.Wait(TimeSpan.FromSeconds(10)), "the real primary was not admitted");
        real.Channel.Send(new HashCheckFrame(8, 8));
        Assert.IsType<HashCheckFrame>(expecting.Next());
        Assert.Equal(1, _secondaries.AcceptedConnections);

        // A token admits once: a second open with it is refused.
        var replay = new LinkEnd();
        replay.Channel = _primaries.Open(_secondaries.Host, _secondaries.Port, "target", token, replay.OnFrame, replay.OnClosed, TimeSpan.FromSeconds(5));
        Assert.True(replay.WaitClosed());
        Assert.Equal(CloseReason.Unauthenticated, replay.Channel.ClosedReason);
        Assert.True(real.Channel.IsOpen);
    }

    /// <summary>
    /// Garbage, an impossible length and a connection that opens nothing, each on a connection of its own
    /// to the secondaries' node: each is dropped, and the real link and its channels carry on.
    /// </summary>
    [Fact]
    public void Garbage_an_impossible_length_and_silence_close_only_their_own_connection()
    {
        var (primary, secondary) = LinkEnd.Open(_primaries, _secondaries, "lively");
        using var garbage = Connect(_secondaries);
        garbage.Send(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n"));
        using var huge = Connect(_secondaries);
        huge.Send([(byte)FrameType.Part, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
        using var orphan = Connect(_secondaries);
        orphan.Send(FrameCodec.Encode(5, new PartFrame(true, new byte[] { 1, 2, 3 }))); // parts of no channel are dropped; the link opens nothing
        using var silent = Connect(_secondaries);

        Assert.True(ClosedByPeer(garbage) && ClosedByPeer(huge), "a hostile connection stayed open");
        Assert.True(ClosedByPeer(silent) && ClosedByPeer(orphan), $"a connection that opened no channel stayed past {NodeLinks.OpenTimeout}");
        Assert.True(SpinWait.SpinUntil(() => _secondaries.Links().Count == 1, TimeSpan.FromSeconds(5)));
        primary.Channel!.Send(new HashCheckFrame(1, 2));
        Assert.IsType<HashCheckFrame>(secondary.Next());
        Assert.True(primary.Channel.IsOpen && secondary.Channel!.IsOpen);
        Assert.Equal(0, primary.Closes + secondary.Closes);
    }

    /// <summary>A secondary's node that sends what does not decode: the primaries' link to it ends as Malformed, and with it its channels.</summary>
    [Fact]
    public void Garbage_from_the_node_a_primary_connected_to_ends_that_link_as_malformed()
    {
        using var listener = new TcpListener(IPAddress.Parse("127.0.0.4"), 0);
        listener.Start();
        var end = new LinkEnd();
        end.Channel = _primaries.Open("127.0.0.4", ((IPEndPoint)listener.LocalEndpoint).Port, "vm", AttachToken.New(), end.OnFrame, end.OnClosed, TimeSpan.FromSeconds(5));
        using var hostile = listener.AcceptSocket();
        hostile.Send(FrameCodec.Encode(1, new HelloFrame("vm", AttachToken.New().Bytes))); // an open from the side that was connected to
        Assert.True(end.WaitClosed());
        Assert.Equal(CloseReason.Malformed, end.Channel.ClosedReason);
        Assert.Empty(_primaries.Links());
    }

    [Fact]
    public void A_goodbye_or_a_drop_on_one_channel_ends_that_channel_alone()
    {
        var pairs = Enumerable.Range(0, 10).Select(i => LinkEnd.Open(_primaries, _secondaries, $"vm{i}")).ToList();
        pairs[3].Primary.Channel!.SayGoodbye();
        pairs[6].Secondary.Channel!.Close(CloseReason.Local, "secondary stopped");
        Assert.True(pairs[3].Secondary.WaitClosed() && pairs[6].Primary.WaitClosed());
        Assert.Equal(CloseReason.SaidGoodbye, pairs[3].Primary.Channel!.ClosedReason);
        Assert.Equal(CloseReason.PeerSaidGoodbye, pairs[3].Secondary.Channel!.ClosedReason);
        Assert.Equal(CloseReason.Local, pairs[6].Secondary.Channel!.ClosedReason);
        Assert.Equal(CloseReason.PeerClosed, pairs[6].Primary.Channel!.ClosedReason);
        foreach (var (primary, secondary) in pairs.Where((_, i) => i is not (3 or 6)))
        {
            primary.Channel!.Send(new HashCheckFrame(1, 1));
            Assert.IsType<HashCheckFrame>(secondary.Next());
            Assert.Equal(0, primary.Closes + secondary.Closes);
        }
        Assert.Equal(1, _secondaries.AcceptedConnections);
    }

    /// <summary>
    /// The peer's reader may see a goodbye a moment after this side sent it and marked the channel ended,
    /// or a link may die at the same moment: a goodbye must stay a goodbye on both sides, every time.
    /// </summary>
    [Fact]
    public void A_goodbye_stays_a_goodbye_however_it_races()
    {
        for (int round = 0; round < 300; round++)
        {
            var (primary, secondary) = LinkEnd.Open(_primaries, _secondaries, $"round{round}");
            if (round % 2 == 0) primary.Channel!.SayGoodbye();
            else secondary.Channel!.SayGoodbye();
            var (said, heard) = round % 2 == 0 ? (primary, secondary) : (secondary, primary);
            Assert.True(heard.WaitClosed(), $"round {round}: the peer never saw the goodbye");
            Assert.Equal(CloseReason.SaidGoodbye, said.Channel!.ClosedReason);
            Assert.Equal(CloseReason.PeerSaidGoodbye, heard.Channel!.ClosedReason);
        }
        Assert.Equal(1, _secondaries.AcceptedConnections);
    }

    /// <summary>
    /// Closing a link disposes the stream under the reader's pending read, or before its thread has even
    /// started; an exception escaping a reader thread ends the whole process (a node, here the test host).
    /// </summary>
    [Fact]
    public void Closing_under_a_waiting_reader_ends_the_channels_quietly_every_time()
    {
        for (int round = 0; round < 200; round++)
        {
            using var primaries = new NodeLinks("127.0.0.2", 0, LockstepSettings.Default);
            using var secondaries = new NodeLinks("127.0.0.3", 0, LockstepSettings.Default);
            var (primary, secondary) = LinkEnd.Open(primaries, secondaries, "vm");
            for (int i = 0; i < round % 4; i++) secondary.Channel!.Send(new AckFrame(0, 0, 0));
            if (round % 2 == 0) primaries.Dispose();
            else secondaries.Dispose();
            Assert.True(primary.WaitClosed() && secondary.WaitClosed(),
                $"round {round}: a side stayed open (primary: {primary.Channel!.ClosedDetail ?? "open"}, secondary: {secondary.Channel!.ClosedDetail ?? "open"})");
        }
    }

    [Fact]
    public void Opening_towards_a_port_nobody_listens_on_is_refused_with_a_socket_error()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Parse("127.0.0.4"), 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        var e = Assert.Throws<SocketException>(() =>
            _primaries.Open("127.0.0.4", port, "vm", AttachToken.New(), _ => { }, () => { }, TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    private static Socket Connect(NodeLinks node)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect(node.Host, node.Port);
        return socket;
    }

    /// <summary>True once the node closed this connection (end of stream or reset), within a few seconds.</summary>
    private static bool ClosedByPeer(Socket socket)
    {
        socket.ReceiveTimeout = 5000;
        var buffer = new byte[1024];
        try
        {
            while (true)
            {
                int read = socket.Receive(buffer);
                if (read == 0) return true;
            }
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode == SocketError.ConnectionReset;
        }
    }

    private static void ReadExactly(Socket socket, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int read = socket.Receive(buffer);
            if (read == 0) throw new EndOfStreamException();
            buffer = buffer[read..];
        }
    }
}
