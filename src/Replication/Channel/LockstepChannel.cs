using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Lockstep.Replication.Channel;

/// <summary>
/// One TCP connection between a primary and its secondary, outside Akka.Remote: the log and the
/// acknowledgements are latency-critical, and a killed process closes its socket at once, which is
/// the fastest failure signal there is. Sends go straight to the socket from the caller's thread
/// (the VM does not wait for the peer); received frames are decoded and handed to a callback on the
/// channel's reader thread. A frame that does not decode ends the channel (<see cref="CloseReason.Malformed"/>).
/// </summary>
public sealed class LockstepChannel : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly object _sendLock = new();
    private readonly object _closeLock = new();
    private readonly Action<Frame> _onFrame;
    private long _lastReceived = Stopwatch.GetTimestamp();
    private long _bytesSent;
    // Written once under _closeLock; read from any thread (the reference and the enum box are published together).
    private volatile Closing? _closed;
    // Set before the goodbye goes: the peer closes as soon as it reads it, and the reader seeing that close
    // first must not turn an orderly end into a lost peer.
    private volatile bool _saidGoodbye;

    private sealed record Closing(CloseReason Reason, string Detail);

    /// <summary>Wraps a connected socket; frames are read once <see cref="Start"/> is called.</summary>
    public LockstepChannel(Socket socket, Action<Frame> onFrame, TimeSpan sendTimeout)
    {
        _socket = socket;
        _socket.NoDelay = true;
        _socket.SendTimeout = (int)sendTimeout.TotalMilliseconds;
        _socket.ReceiveTimeout = 0;
        _socket.SendBufferSize = 4 << 20;
        _socket.ReceiveBufferSize = 4 << 20;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _onFrame = onFrame;
    }

    /// <summary>Starts the reader thread (separate from construction, so the owner can store the channel before frames arrive).</summary>
    public LockstepChannel Start()
    {
        new Thread(ReceiveLoop) { IsBackground = true, Name = "lockstep-receive" }.Start();
        return this;
    }

    public bool IsOpen => _closed is null;

    /// <summary>
    /// Raised once, on the thread that closed the channel (the reader's when the peer went): an owner
    /// that sleeps between turns notices at once instead of at its next deadline. Subscribe before
    /// <see cref="Start"/>, and look at <see cref="IsOpen"/> after, for a close that came first.
    /// </summary>
    public event Action? Closed;

    /// <summary>Why the channel ended, or null while it lives.</summary>
    public CloseReason? ClosedReason => _closed?.Reason;

    /// <summary>The end as an operator reads it (never decided on).</summary>
    public string? ClosedDetail => _closed?.Detail;

    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public TimeSpan SilentFor => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastReceived));

    /// <summary>
    /// Connects on the caller's thread alone (a non-blocking connect and a poll): an async connect
    /// completes on the thread pool, and on a node whose pool is busy that made attaches time out.
    /// The first frame presents <paramref name="token"/>, which the secondary checks before anything else.
    /// </summary>
    /// <exception cref="SocketException">Refused, unreachable, or not connected within <paramref name="timeout"/>.</exception>
    public static LockstepChannel Connect(string host, int port, AttachToken token, Action<Frame> onFrame, TimeSpan timeout, TimeSpan sendTimeout)
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
            socket.Send(FrameCodec.Encode(new HelloFrame(token.Bytes)));
            return new LockstepChannel(socket, onFrame, sendTimeout).Start();
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes a frame now, on the caller's thread: a hand-off to a sender thread costs a wake-up
    /// on each side, which is most of a loopback round trip. A peer that stops reading (frozen)
    /// makes the write time out, and that closes the channel like any other failure.
    /// </summary>
    public void Send(Frame frame)
    {
        if (!IsOpen) return;
        byte[] bytes = FrameCodec.Encode(frame);
        try
        {
            lock (_sendLock) _socket.Send(bytes);
            Interlocked.Add(ref _bytesSent, bytes.Length);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // A peer that closed its end (reset, broken pipe) may have said goodbye first, and that frame
            // may still wait in our receive buffer: the reader, which gets it before the error, decides
            // why the channel ended. Closing here would throw the goodbye away, and a secondary
            // dismissed in good order would take over. Any other failure (a peer that stopped reading)
            // ends the channel now.
            if ((e.InnerException ?? e) is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown }) return;
            Close(CloseReason.SendFailed, $"send failed: {e.Message}");
        }
    }

    private void ReceiveLoop()
    {
        var header = new byte[FrameCodec.HeaderSize];
        try
        {
            // Buffered: a frame's header and payload, and any frames behind them, come in one receive.
            // Inside the try: a channel closed before this thread starts has its stream disposed already.
            var input = new BufferedStream(_stream, 64 << 10);
            while (IsOpen)
            {
                input.ReadExactly(header);
                var payload = new byte[FrameCodec.PayloadLength(header)];
                input.ReadExactly(payload);
                Interlocked.Exchange(ref _lastReceived, Stopwatch.GetTimestamp());
                var frame = FrameCodec.Decode(header[0], payload);
                if (frame is GoodbyeFrame)
                {
                    Close(CloseReason.PeerSaidGoodbye, "peer said goodbye");
                    return;
                }
                _onFrame(frame);
            }
        }
        catch (FrameFormatException e)
        {
            Close(CloseReason.Malformed, $"malformed frame from the peer: {e.Message}");
        }
        catch (Exception e)
        {
            // Whatever ends the reader ends the channel (the peer then fails over or re-protects).
            // Nothing may escape this thread: an unhandled exception would take the whole node down,
            // and Close disposing the stream under a pending read throws NotSupportedException here.
            var (reason, detail) = Classify(e);
            Close(reason, detail);
        }
    }

    private static (CloseReason, string) Classify(Exception e) => (e.InnerException ?? e) switch
    {
        SocketException { SocketErrorCode: SocketError.ConnectionReset } => (CloseReason.PeerReset, "connection reset by the peer (its process died)"),
        EndOfStreamException => (CloseReason.PeerClosed, "connection closed by the peer"),
        SocketException s => (CloseReason.ConnectionLost, $"connection lost ({s.SocketErrorCode})"),
        _ => (CloseReason.ConnectionLost, $"connection lost ({e.Message})"),
    };

    /// <summary>Ends the channel; the first reason given is the one that stays.</summary>
    public void Close(CloseReason reason, string detail)
    {
        lock (_closeLock)
        {
            if (_closed is not null) return;
            _closed = _saidGoodbye ? new Closing(CloseReason.SaidGoodbye, "said goodbye") : new Closing(reason, detail);
        }
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _stream.Dispose();
        Closed?.Invoke();
    }

    /// <summary>Tells the peer this is an orderly end, so it does not fail over.</summary>
    public void SayGoodbye()
    {
        _saidGoodbye = true;
        Send(GoodbyeFrame.Instance);
        Close(CloseReason.SaidGoodbye, "said goodbye");
    }

    public void Dispose() => Close(CloseReason.Local, "disposed");
}
