using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Stats;

namespace Lockstep.Replication.Links;

/// <summary>
/// One TCP connection between two nodes, outside Akka.Remote, carrying the channels of every VM whose
/// primary is on the connecting node and whose secondary is on the other (only the connecting side opens
/// channels: it chose whom to connect to, so its primaries never hand state to a peer that merely
/// connected in). Heartbeats are the link's: failure detection costs the same for one VM and a thousand.
/// A lost link is a fact for every channel on it; a frame that does not decode ends the link
/// (<see cref="CloseReason.Malformed"/>), so a hostile peer can only kill its own connection.
/// </summary>
/// <remarks>
/// Sends go straight to the socket from the caller's thread under the send lock (a hand-off to a sender
/// thread costs a wake-up per side, most of a loopback round trip). A frame larger than
/// <see cref="PieceSize"/> goes in parts, the lock taken per part, so a RAM copy holds up another VM's
/// ack by at most one part (plus what already sits in the socket buffers, <see cref="SocketBuffer"/>).
/// One reader thread per link decodes and hands each frame to its channel, whose callback only enqueues.
/// </remarks>
public sealed class NodeLink
{
    /// <summary>The largest piece of a frame written under the send lock at once.</summary>
    public const int PieceSize = 64 << 10;

    /// <summary>The socket send and receive buffers: what a small frame may find queued ahead of it.</summary>
    public const int SocketBuffer = 1 << 20;

    /// <summary>How long a TLS handshake may take, either side: a loaded node needs more than the open's second for it.</summary>
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(5);

    // A link frame is a part at most (a part's flag byte and piece); anything longer is refused before allocating.
    private const int MaxLinkPayload = 1 + PieceSize;

    private readonly NodeLinks _owner;
    private readonly Socket _socket;
    // The socket's stream, or the TLS stream over it once the handshake is done (the incoming side's on its reader thread).
    private volatile Stream _stream;
    private volatile bool _ready;
    private readonly LockstepSettings _settings;
    private readonly object _sendLock = new();
    private readonly object _closeLock = new();
    private readonly ConcurrentDictionary<uint, LinkChannel> _channels = new();
    private long _startedAt = Stopwatch.GetTimestamp(); // reset when the handshake is done: the open's second counts from there
    private long _lastReceived = Stopwatch.GetTimestamp();
    private long _stalledWhenLastReceived; // the node's OwnStalls.Total then
    private long _lastSent = Stopwatch.GetTimestamp();
    private int _waitingToSend;
    private uint _lastChannelId;
    private volatile bool _everAdmitted;
    private volatile Closing? _closed;

    private sealed record Closing(CloseReason Reason, string Detail);

    /// <summary>How often each side asks for the link's round trip.</summary>
    public static readonly TimeSpan PingInterval = TimeSpan.FromSeconds(1);

    // The round trip: the stamp of the last ping sent (a pong with another is ignored), and a pong owed to the peer,
    // sent by the timer (never the reader: it must not block on a full socket while the peer's reader blocks on ours).
    private long _pingSentAt = Stopwatch.GetTimestamp();
    private long _pingStamp = -1;
    private volatile OwedPong? _owedPong;
    private long _lastRoundTripTicks = -1;

    private sealed record OwedPong(ulong Stamp, long ArrivedAt);

    private NodeLink(NodeLinks owner, Socket socket, bool outgoing, string peer, LockstepSettings settings)
    {
        _owner = owner;
        _socket = socket;
        _settings = settings;
        Outgoing = outgoing;
        Peer = peer;
        _socket.NoDelay = true;
        _socket.SendTimeout = (int)settings.HeartbeatTimeout.TotalMilliseconds;
        _socket.ReceiveTimeout = 0;
        _socket.SendBufferSize = SocketBuffer;
        _socket.ReceiveBufferSize = SocketBuffer;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _ready = outgoing || settings.Tls is null;
    }

    /// <summary>This node connected (its primaries open channels on it); false: the peer connected in.</summary>
    public bool Outgoing { get; }

    /// <summary>The other end, for logs.</summary>
    public string Peer { get; }

    public bool IsOpen => _closed is null;
    public CloseReason? ClosedReason => _closed?.Reason;
    public string? ClosedDetail => _closed?.Detail;
    public TimeSpan SilentFor => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastReceived));

    /// <summary>Round trips measured by this side's pings (one a <see cref="PingInterval"/>), heartbeat timer delays on the answering side left out.</summary>
    public LatencyHistogram RoundTrips { get; } = new();

    /// <summary>The last round trip measured, in milliseconds; null before the first.</summary>
    public double? LastRoundTripMs
    {
        get
        {
            long ticks = Interlocked.Read(ref _lastRoundTripTicks);
            return ticks < 0 ? null : ticks * 1000.0 / Stopwatch.Frequency;
        }
    }

    /// <summary>VM channels open on this link now.</summary>
    public int ChannelCount => _channels.Count;

    /// <summary>
    /// Connects on the caller's thread alone (a non-blocking connect and a poll): an async connect
    /// completes on the thread pool, and on a node whose pool is busy that made attaches time out.
    /// </summary>
    /// <exception cref="SocketException">Refused, unreachable, or not connected within <paramref name="timeout"/>.</exception>
    internal static NodeLink Connect(NodeLinks owner, string host, int port, TimeSpan timeout, LockstepSettings settings)
    {
        var address = IPAddress.TryParse(host, out var parsed) ? parsed : Dns.GetHostAddresses(host)[0];
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
        try
        {
            try
            {
                socket.Connect(address, port);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                // Under way: writable once connected, or once it has failed.
                if (!socket.Poll(timeout, SelectMode.SelectWrite)) throw new SocketException((int)SocketError.TimedOut);
                var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                if (error != SocketError.Success) throw new SocketException((int)error);
            }
            socket.Blocking = true;
            var link = new NodeLink(owner, socket, outgoing: true, $"{host}:{port}", settings);
            if (settings.Tls is { } tls) link.Secure(() => tls.AuthenticateAsClient(link._stream, link.Peer), timeout > HandshakeTimeout ? timeout : HandshakeTimeout);
            return link;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Replaces the plain stream by a TLS one, the handshake bounded by <paramref name="timeout"/> (a peer that never answers cannot hold it).</summary>
    /// <exception cref="IOException">The handshake failed or timed out; the socket is closed.</exception>
    private void Secure(Func<Stream> handshake, TimeSpan timeout)
    {
        _socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        try
        {
            _stream = handshake();
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
        _socket.ReceiveTimeout = 0;
        Interlocked.Exchange(ref _startedAt, Stopwatch.GetTimestamp());
        _ready = true;
    }

    internal static NodeLink Accepted(NodeLinks owner, Socket socket, LockstepSettings settings) =>
        new(owner, socket, outgoing: false, socket.RemoteEndPoint?.ToString() ?? "unknown peer", settings);

    /// <summary>Starts the reader thread (separate from construction, so the owner can store the link before frames arrive).</summary>
    internal void Start() => new Thread(ReceiveLoop) { IsBackground = true, Name = $"lockstep-link-{Peer}" }.Start();

    /// <summary>Opens a VM's channel, presenting the attach token; a refusal comes back as the channel closing (Unauthenticated).</summary>
    internal LinkChannel Open(string vm, AttachToken token, Action<Frame> onFrame, Action onClosed)
    {
        uint id = Interlocked.Increment(ref _lastChannelId);
        var channel = Add(id, vm, onFrame, onClosed);
        Send(id, new HelloFrame(vm, token.Bytes), null);
        return channel;
    }

    /// <summary>A channel from now on (a link closed meanwhile closes it at once).</summary>
    internal LinkChannel Add(uint id, string vm, Action<Frame> onFrame, Action onClosed)
    {
        var channel = new LinkChannel(this, id, vm, onFrame, onClosed);
        _channels[id] = channel;
        _everAdmitted = true;
        if (_closed is { } closed) channel.LinkLost(closed.Reason, closed.Detail);
        return channel;
    }

    internal void Remove(uint id) => _channels.TryRemove(id, out _);

    /// <summary>
    /// Writes a frame of <paramref name="channel"/> now, on the caller's thread; in parts when it is
    /// larger than <see cref="PieceSize"/>, <paramref name="partsLock"/> held meanwhile. A peer that stops
    /// reading (frozen) makes the write time out, and that ends the link like any other failure.
    /// </summary>
    internal void Send(uint channel, Frame frame, object? partsLock)
    {
        if (!IsOpen) return;
        byte[] bytes = FrameCodec.Encode(channel, frame);
        if (bytes.Length <= PieceSize || partsLock is null)
        {
            Write(bytes);
            return;
        }
        lock (partsLock)
        {
            for (int at = 0; at < bytes.Length && IsOpen; at += PieceSize)
            {
                int length = Math.Min(PieceSize, bytes.Length - at);
                Write(FrameCodec.Encode(channel, new PartFrame(at + length == bytes.Length, bytes.AsMemory(at, length))));
                // Let a sender waiting for the lock (another VM's ack, a segment) go before the next part.
                var spin = new SpinWait();
                for (int i = 0; i < 20 && Volatile.Read(ref _waitingToSend) > 0; i++) spin.SpinOnce();
            }
        }
    }

    private void Write(byte[] bytes)
    {
        try
        {
            Interlocked.Increment(ref _waitingToSend);
            lock (_sendLock)
            {
                Interlocked.Decrement(ref _waitingToSend);
                _stream.Write(bytes);
            }
            Interlocked.Exchange(ref _lastSent, Stopwatch.GetTimestamp());
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // A peer that closed its end (reset, broken pipe) may have sent goodbyes first, still waiting in the
            // receive buffer: the reader, which gets them before the error, decides how each channel ended.
            // Closing here would throw them away, and a secondary dismissed in good order would take over.
            // Any other failure (a peer that stopped reading) ends the link now.
            if ((e.InnerException ?? e) is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown }) return;
            Close(CloseReason.SendFailed, $"send failed: {e.Message}");
        }
    }

    /// <summary>
    /// The heartbeat timer's turn (every <see cref="LockstepSettings.HeartbeatInterval"/>): a link silent
    /// beyond the timeout, in time this node ran (<see cref="OwnStalls"/>), ends (Silent); one that carried nothing lately sends a heartbeat, unless the
    /// send lock is taken (something is being sent anyway) or the socket would block (the timer serves
    /// every link and must not wait on one).
    /// </summary>
    internal void Tick()
    {
        if (!IsOpen) return;
        var silent = SilentFor;
        var counted = _owner.Stalls.Discounted(silent, Interlocked.Read(ref _stalledWhenLastReceived));
        if (counted > _settings.HeartbeatTimeout && !HasUnread())
        {
            Close(CloseReason.Silent, counted == silent
                ? $"link to {Peer} silent for {silent.TotalMilliseconds:F0} ms"
                : $"link to {Peer} silent for {counted.TotalMilliseconds:F0} ms of this node's running time ({silent.TotalMilliseconds:F0} ms in all)");
            return;
        }
        if (!Outgoing && !_everAdmitted && Stopwatch.GetElapsedTime(Interlocked.Read(ref _startedAt)) > (_ready ? NodeLinks.OpenTimeout : HandshakeTimeout))
        {
            Close(CloseReason.Unauthenticated, _ready
                ? $"no channel admitted from {Peer} within {NodeLinks.OpenTimeout.TotalSeconds:0} s"
                : $"refused: no TLS handshake completed by {Peer} within {HandshakeTimeout.TotalSeconds:0} s (plain text, or a stalled peer)");
            return;
        }
        bool pingDue = Stopwatch.GetElapsedTime(Interlocked.Read(ref _pingSentAt)) >= PingInterval;
        bool heartbeatDue = Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastSent)) >= _settings.HeartbeatInterval / 2;
        if (!pingDue && !heartbeatDue && _owedPong is null) return;
        if (!_ready || !Monitor.TryEnter(_sendLock)) return;
        try
        {
            if (!_socket.Poll(0, SelectMode.SelectWrite)) return;
            // Each of these is a sign of life as well as a heartbeat.
            if (Interlocked.Exchange(ref _owedPong, null) is { } pong)
                _stream.Write(FrameCodec.Encode(FrameCodec.LinkChannel, new PongFrame(pong.Stamp, (ulong)(Stopwatch.GetTimestamp() - pong.ArrivedAt))));
            else if (pingDue)
            {
                long now = Stopwatch.GetTimestamp();
                Interlocked.Exchange(ref _pingStamp, now);
                Interlocked.Exchange(ref _pingSentAt, now);
                _stream.Write(FrameCodec.Encode(FrameCodec.LinkChannel, new PingFrame((ulong)now)));
            }
            else _stream.Write(FrameCodec.Encode(FrameCodec.LinkChannel, HeartbeatFrame.Instance));
            Interlocked.Exchange(ref _lastSent, Stopwatch.GetTimestamp());
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // The reader sees the same failure and says why the link ended.
        }
        finally
        {
            Monitor.Exit(_sendLock);
        }
    }

    /// <summary>
    /// Bytes wait in the socket: the peer spoke, and it is this node that was slow to read (its process
    /// stalled, say by the collector or a starved scheduler). Waking from such a stall, the timer would
    /// otherwise run before the reader and blame the peer, and the peer would take over from a live primary.
    /// </summary>
    private bool HasUnread()
    {
        try
        {
            return _socket.Available > 0;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void ReceiveLoop()
    {
        var header = new byte[FrameCodec.HeaderSize];
        try
        {
            // Buffered: a frame's header and payload, and any frames behind them, come in one receive.
            // Inside the try: a link closed before this thread starts has its stream disposed already.
            if (!_ready && _settings.Tls is { } tls) Secure(() => tls.AuthenticateAsServer(_stream, Peer), HandshakeTimeout);
            var input = new BufferedStream(_stream, 64 << 10);
            while (IsOpen)
            {
                input.ReadExactly(header);
                var payload = new byte[FrameCodec.PayloadLength(header, MaxLinkPayload)];
                input.ReadExactly(payload);
                Interlocked.Exchange(ref _lastReceived, Stopwatch.GetTimestamp());
                Interlocked.Exchange(ref _stalledWhenLastReceived, _owner.Stalls.Total);
                Dispatch(FrameCodec.ChannelOf(header), FrameCodec.Decode(header[0], payload));
            }
        }
        catch (FrameFormatException e)
        {
            Close(CloseReason.Malformed, $"malformed frame from {Peer}: {e.Message}");
        }
        catch (IOException e) when (!_ready)
        {
            // A plain-text peer, one without a certificate of the cluster CA, or one that never finished the handshake.
            Close(CloseReason.Unauthenticated, $"refused: {e.Message}");
        }
        catch (Exception e)
        {
            // Whatever ends the reader ends the link (its channels' sides then fail over or re-protect).
            // Nothing may escape this thread: an unhandled exception would take the whole node down,
            // and Close disposing the stream under a pending read throws NotSupportedException here.
            var (reason, detail) = Classify(e);
            Close(reason, detail);
        }
    }

    private void Dispatch(uint channel, Frame frame)
    {
        if (channel == FrameCodec.LinkChannel)
        {
            switch (frame)
            {
                case HeartbeatFrame: return;
                case PingFrame ping:
                    _owedPong = new OwedPong(ping.Stamp, Stopwatch.GetTimestamp());
                    return;
                case PongFrame pong:
                    Answered(pong);
                    return;
                default: throw new FrameFormatException($"a {frame.Type} frame on the link's own channel");
            }
        }
        switch (frame)
        {
            case HeartbeatFrame or PingFrame or PongFrame:
                throw new FrameFormatException($"a {frame.Type} frame on VM channel {channel}");
            case HelloFrame hello:
                if (Outgoing) throw new FrameFormatException("an open from the side this node connected to");
                if (_channels.ContainsKey(channel)) throw new FrameFormatException($"channel {channel} opened twice");
                if (!_owner.Admit(this, channel, hello)) Send(channel, RefusedFrame.Instance, null);
                return;
        }
        // No channel: one closed on this side, with frames still on their way. They are dropped.
        if (_channels.TryGetValue(channel, out var open)) open.Receive(frame);
    }

    /// <summary>Reader thread: the answer to the last ping (an answer to an older one, or one never sent, is ignored).</summary>
    private void Answered(PongFrame pong)
    {
        long sent = Interlocked.Read(ref _pingStamp);
        if (sent < 0 || pong.Stamp != (ulong)sent) return;
        Interlocked.Exchange(ref _pingStamp, -1);
        long ticks = Stopwatch.GetTimestamp() - sent - (long)Math.Min(pong.HeldTicks, (ulong)long.MaxValue);
        if (ticks < 0) ticks = 0; // the peer's ticks are not quite ours (another clock rate is not expected on one kernel, but is possible across hosts)
        Interlocked.Exchange(ref _lastRoundTripTicks, ticks);
        RoundTrips.RecordTicks(ticks);
    }

    private static (CloseReason, string) Classify(Exception e) => (e.InnerException ?? e) switch
    {
        SocketException { SocketErrorCode: SocketError.ConnectionReset } => (CloseReason.PeerReset, "link reset by the peer (its process died)"),
        EndOfStreamException => (CloseReason.PeerClosed, "link closed by the peer"),
        SocketException s => (CloseReason.ConnectionLost, $"link lost ({s.SocketErrorCode})"),
        _ => (CloseReason.ConnectionLost, $"link lost ({e.Message})"),
    };

    /// <summary>
    /// Compiles, at node start, the channel table's snapshot and removal that only a link's end runs: the first end
    /// otherwise compiled them on the reader thread before its channels heard of it (10 methods, 1.4-1.7 ms traced on a
    /// loaded node, docs/benchmarks.md "Twelfth session"). Any reference-type value shares the table's compiled code.
    /// </summary>
    public static void WarmEndPath()
    {
        var table = new ConcurrentDictionary<uint, object>();
        table[1] = table;
        if (table.TryGetValue(1, out _) && table.ContainsKey(1) && table.Values.Count == table.Count) table.TryRemove(1, out _);
    }

    /// <summary>Ends the link and every channel on it; the first reason given is the one that stays.</summary>
    /// <remarks>
    /// The channels first: each wakes its VM side, whose outputs wait for what it decides (a primary's claim), while the
    /// socket's teardown and the link's log line can wait (traced on a loaded node: they took 0.5-4.2 ms of the reader
    /// thread before the channels were told, docs/benchmarks.md). A link that is closed is no longer handed out
    /// (<see cref="IsOpen"/> is false from here), so nothing needs it forgotten first.
    /// </remarks>
    public void Close(CloseReason reason, string detail)
    {
        lock (_closeLock)
        {
            if (_closed is not null) return;
            _closed = new Closing(reason, detail);
        }
        foreach (var channel in _channels.Values) channel.LinkLost(reason, detail);
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _stream.Dispose();
        _owner.Forget(this);
    }
}
