using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The secondary's node, played by the test over a raw socket with the frame codec: it admits the
/// primary's link and channel, keeps the link alive with heartbeats until told to fall silent, and
/// acknowledges (and takes the authority it is given) only as the test says.
/// </summary>
internal sealed class FakeSecondary : IDisposable
{
    private readonly Socket _socket;
    private readonly uint _channel;
    private readonly object _sendLock = new();
    private readonly BlockingCollection<SnapshotFrame> _snapshots = new();
    private readonly CancellationTokenSource _heartbeats = new();
    private readonly MemoryStream _parts = new();
    private int _segments;
    private long _lastHorizon;
    private long _releasedSeq;
    private long _authorityAt = -1;

    private FakeSecondary(Socket socket, uint channel)
    {
        _socket = socket;
        _channel = channel;
        new Thread(ReadLoop) { IsBackground = true, Name = "fake-secondary-read" }.Start();
        new Thread(HeartbeatLoop) { IsBackground = true, Name = "fake-secondary-heartbeat" }.Start();
    }

    /// <summary>Log segments received so far.</summary>
    public int Segments => Volatile.Read(ref _segments);

    /// <summary>The first output not yet released, as the newest segment said.</summary>
    public ulong ReleasedSeq => (ulong)Interlocked.Read(ref _releasedSeq);

    /// <summary>Where the primary gave this secondary authority to take over; null before it did.</summary>
    public ulong? AuthorityAt => Interlocked.Read(ref _authorityAt) is >= 0 and var at ? (ulong)at : null;

    /// <summary>The horizon of the newest segment received (0 before any).</summary>
    public ulong LastHorizon => (ulong)Interlocked.Read(ref _lastHorizon);

    /// <summary>Asks the primary to attach to a new fake secondary and admits its link and channel (checking its token).</summary>
    /// <param name="beforeAccept">Runs after the attach was asked for (say, to start the primary only then).</param>
    public static FakeSecondary Attach(PrimaryLoop primary, Action? beforeAccept = null)
    {
        var token = AttachToken.New();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        primary.Attach("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, token);
        beforeAccept?.Invoke();
        var accepted = listener.AcceptSocketAsync();
        if (!accepted.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the primary never connected");
        var socket = accepted.Result;
        socket.ReceiveTimeout = 10_000;
        var (channel, frame) = ReadFrame(socket);
        while (channel == FrameCodec.LinkChannel) (channel, frame) = ReadFrame(socket);
        var hello = Assert.IsType<HelloFrame>(frame);
        Assert.True(token.Matches(hello.Token), "the primary presented another token");
        socket.ReceiveTimeout = 0;
        return new FakeSecondary(socket, channel);
    }

    private static (uint Channel, Frame Frame) ReadFrame(Socket socket)
    {
        var header = new byte[FrameCodec.HeaderSize];
        ReadExactly(socket, header);
        var payload = new byte[FrameCodec.PayloadLength(header)];
        ReadExactly(socket, payload);
        return (FrameCodec.ChannelOf(header), FrameCodec.Decode(header[0], payload));
    }

    private static void ReadExactly(Socket socket, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int read = socket.Receive(buffer);
            if (read == 0) throw new EndOfStreamException("the primary's link closed");
            buffer = buffer[read..];
        }
    }

    private void ReadLoop()
    {
        try
        {
            while (true)
            {
                var (channel, frame) = ReadFrame(_socket);
                if (channel == _channel) OnFrame(frame);
            }
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or ObjectDisposedException)
        {
            // The test is over, or the primary dropped the link.
        }
    }

    private void OnFrame(Frame frame)
    {
        if (frame is PartFrame part)
        {
            _parts.Write(part.Piece.Span);
            if (!part.Last) return;
            var whole = _parts.ToArray();
            _parts.SetLength(0);
            frame = FrameCodec.Decode(whole[0], whole[FrameCodec.HeaderSize..]);
        }
        if (frame is SnapshotFrame snapshot) _snapshots.Add(snapshot);
        if (frame is AuthorityFrame authority) Interlocked.Exchange(ref _authorityAt, (long)authority.Position);
        if (frame is SegmentFrame segment)
        {
            Interlocked.Exchange(ref _lastHorizon, (long)segment.Segment.Horizon);
            Interlocked.Exchange(ref _releasedSeq, (long)segment.ReleasedSeq);
            Interlocked.Increment(ref _segments);
        }
    }

    private void HeartbeatLoop()
    {
        while (!_heartbeats.Token.WaitHandle.WaitOne(LockstepSettings.Default.HeartbeatInterval)) Send(FrameCodec.LinkChannel, HeartbeatFrame.Instance);
    }

    private void Send(uint channel, Frame frame)
    {
        try
        {
            lock (_sendLock) _socket.Send(FrameCodec.Encode(channel, frame));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The primary's link is gone: what the test checks happens on its side.
        }
    }

    /// <summary>Where the snapshot the primary sent was taken (checked against the state it carries).</summary>
    public ulong SnapshotPosition()
    {
        Assert.True(_snapshots.TryTake(out var snapshot, TimeSpan.FromSeconds(10)), "no snapshot came");
        var machine = new Machine(MemoryMap.DefaultRamSize);
        MachineSnapshot.Restore(machine, snapshot.State);
        Assert.Equal(machine.Position, snapshot.Position);
        return snapshot.Position;
    }

    public void Ack(ulong horizon) => Send(_channel, new AckFrame(0, horizon, 0));

    /// <summary>Waits for the primary to give authority (after an ack covering the snapshot) and returns where.</summary>
    public ulong AwaitAuthority()
    {
        Assert.True(SpinWait.SpinUntil(() => AuthorityAt is not null, TimeSpan.FromSeconds(10)), "the primary gave no authority");
        return AuthorityAt!.Value;
    }

    /// <summary>Answers the authority given at <paramref name="position"/>, as a real secondary does on receipt.</summary>
    public void TakeAuthority(ulong position) => Send(_channel, new AuthorityTakenFrame(position));

    /// <summary>What a real secondary does to become one the primary counts on: acknowledges the snapshot, then takes the authority that brings.</summary>
    public void Protect()
    {
        Ack(SnapshotPosition());
        TakeAuthority(AwaitAuthority());
    }

    /// <summary>Ends the channel in good order.</summary>
    public void SayGoodbye() => Send(_channel, GoodbyeFrame.Instance);

    /// <summary>Drops the channel, as a secondary that stopped or failed does (the link stays).</summary>
    public void Drop() => Send(_channel, DropFrame.Instance);

    /// <summary>The node freezes: no heartbeat, no ack, nothing more on the link.</summary>
    public void FallSilent() => _heartbeats.Cancel();

    public void Dispose()
    {
        _heartbeats.Cancel();
        _socket.Dispose();
    }
}
