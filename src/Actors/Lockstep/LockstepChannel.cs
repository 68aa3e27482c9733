using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;

namespace Lockstep.Actors.Lockstep;

/// <summary>
/// One TCP connection between a primary and its secondary, outside Akka.Remote: the log and the
/// acknowledgements are latency-critical, and a killed process closes its socket at once, which
/// is the fastest failure signal there is. Sends go straight to the socket (the
/// VM does not wait for the peer); received frames go to a callback on a reader thread.
/// Frame: [u8 type][u32 length][payload].
/// </summary>
public sealed class LockstepChannel : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly object _sendLock = new();
    // While a large frame goes out on a background thread, later frames wait here, in order.
    private readonly object _queueLock = new();
    private readonly Queue<byte[]> _queued = new();
    private bool _sendingInBackground;
    private readonly ManualResetEventSlim _backgroundIdle = new(true);
    private readonly object _closeLock = new();
    private readonly Action<FrameType, byte[]> _onFrame;
    private long _lastReceived = Stopwatch.GetTimestamp();
    private long _bytesSent;
    private volatile string? _closedReason;

    public LockstepChannel(Socket socket, Action<FrameType, byte[]> onFrame, TimeSpan sendTimeout)
    {
        _socket = socket;
        _socket.NoDelay = true;
        _socket.SendTimeout = (int)sendTimeout.TotalMilliseconds;
        _socket.SendBufferSize = 4 << 20;
        _socket.ReceiveBufferSize = 4 << 20;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _onFrame = onFrame;
        new Thread(ReceiveLoop) { IsBackground = true, Name = "lockstep-receive" }.Start();
    }

    /// <summary>Why the channel is dead, or null while it lives.</summary>
    public string? ClosedReason => _closedReason;
    public bool IsOpen => _closedReason is null;
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public TimeSpan SilentFor => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastReceived));

    /// <summary>Fires once, on whichever thread notices the end first.</summary>
    public event Action<string>? Closed;

    public static LockstepChannel Connect(string host, int port, Action<FrameType, byte[]> onFrame, TimeSpan timeout, TimeSpan sendTimeout)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(timeout);
        socket.ConnectAsync(host, port, cts.Token).AsTask().GetAwaiter().GetResult();
        return new LockstepChannel(socket, onFrame, sendTimeout);
    }

    /// <summary>
    /// Writes a frame now, on the caller's thread: a hand-off to a sender thread costs a wake-up
    /// on each side, which is most of a loopback round trip. A peer that stops reading (frozen)
    /// makes the write time out, and that closes the channel like any other failure.
    /// </summary>
    public void Send(FrameType type, ReadOnlySpan<byte> payload)
    {
        if (!IsOpen) return;
        var frame = Frame(type, payload);
        lock (_queueLock)
        {
            if (_sendingInBackground)
            {
                _queued.Enqueue(frame);
                return;
            }
        }
        Write(frame);
    }

    /// <summary>
    /// Sends a large frame (a snapshot) from a thread of its own, so the caller goes on at once;
    /// frames sent meanwhile follow it in order. The caller must not wait on the peer's answer to it.
    /// </summary>
    public void SendInBackground(FrameType type, byte[] payload)
    {
        if (!IsOpen) return;
        lock (_queueLock) _sendingInBackground = true;
        _backgroundIdle.Reset();
        new Thread(() =>
        {
            try
            {
                var next = Frame(type, payload); // here too: copying 16 MiB is no business of the caller's
                while (true)
                {
                    Write(next);
                    lock (_queueLock)
                    {
                        if (!_queued.TryDequeue(out next!))
                        {
                            _sendingInBackground = false;
                            return;
                        }
                    }
                }
            }
            catch (Exception e)
            {
                Close($"send failed: {e.Message}"); // as on the reader thread: nothing may escape and end the node
            }
            finally
            {
                _backgroundIdle.Set();
            }
        }) { IsBackground = true, Name = "lockstep-send" }.Start();
    }

    private static byte[] Frame(FrameType type, ReadOnlySpan<byte> payload)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(1), payload.Length);
        payload.CopyTo(frame.AsSpan(5));
        return frame;
    }

    private void Write(byte[] frame)
    {
        if (!IsOpen) return;
        try
        {
            lock (_sendLock) _socket.Send(frame);
            Interlocked.Add(ref _bytesSent, frame.Length);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            Close($"send failed: {e.Message}");
        }
    }

    private void ReceiveLoop()
    {
        var header = new byte[5];
        try
        {
            // Buffered: a frame's header and payload, and any frames behind them, come in one receive.
            // Inside the try: a channel closed before this thread starts has its stream disposed already.
            var input = new BufferedStream(_stream, 64 << 10);
            while (IsOpen)
            {
                input.ReadExactly(header);
                int length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(1));
                if (length < 0 || length > 1 << 30) throw new IOException($"bad frame length {length}");
                var payload = new byte[length];
                input.ReadExactly(payload);
                Interlocked.Exchange(ref _lastReceived, Stopwatch.GetTimestamp());
                var type = (FrameType)header[0];
                if (type == FrameType.Goodbye)
                {
                    Close("peer said goodbye");
                    return;
                }
                _onFrame(type, payload);
            }
        }
        catch (Exception e)
        {
            // Whatever ends the reader ends the channel (the peer then fails over or re-protects).
            // Nothing may escape this thread: an unhandled exception would take the whole node down,
            // and Close disposing the stream under a pending read throws NotSupportedException here.
            Close(Describe(e));
        }
    }

    /// <summary>A reason an operator can read in the failover history.</summary>
    private static string Describe(Exception e) => (e.InnerException ?? e) switch
    {
        SocketException { SocketErrorCode: SocketError.ConnectionReset } => "connection reset by the peer (its process died)",
        EndOfStreamException => "connection closed by the peer",
        SocketException s => $"connection lost ({s.SocketErrorCode})",
        _ => $"connection lost ({e.Message})",
    };

    public void Close(string reason)
    {
        lock (_closeLock)
        {
            if (_closedReason is not null) return;
            _closedReason = reason;
        }
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _stream.Dispose();
        Closed?.Invoke(reason);
    }

    /// <summary>Tells the peer this is an orderly end, so it does not fail over.</summary>
    public void SayGoodbye()
    {
        Send(FrameType.Goodbye, []);
        // A goodbye queued behind a snapshot must go out before the close: a secondary that got the
        // snapshot and then only the connection's end would take over.
        _backgroundIdle.Wait(TimeSpan.FromMilliseconds(Math.Max(_socket.SendTimeout, 1000)));
        Close("said goodbye");
    }

    public void Dispose() => Close("disposed");
}
