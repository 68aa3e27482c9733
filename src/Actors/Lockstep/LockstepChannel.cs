using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
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

    /// <summary>
    /// Connects on the caller's thread alone (a non-blocking connect and a poll): an async connect
    /// completes on the thread pool, and on a node whose pool is busy that made attaches time out.
    /// </summary>
    /// <exception cref="SocketException">Refused, unreachable, or not connected within <paramref name="timeout"/>.</exception>
    public static LockstepChannel Connect(string host, int port, Action<FrameType, byte[]> onFrame, TimeSpan timeout, TimeSpan sendTimeout)
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
            return new LockstepChannel(socket, onFrame, sendTimeout);
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
    public void Send(FrameType type, ReadOnlySpan<byte> payload)
    {
        if (!IsOpen) return;
        var frame = new byte[5 + payload.Length];
        frame[0] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(1), payload.Length);
        payload.CopyTo(frame.AsSpan(5));
        try
        {
            lock (_sendLock) _socket.Send(frame);
            Interlocked.Add(ref _bytesSent, frame.Length);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // A peer that closed its end (reset, broken pipe) may have said goodbye first, and that frame
            // may still wait in our receive buffer: the reader, which gets it before the error, decides
            // why the channel ended. Closing here would throw the goodbye away, and a secondary
            // dismissed in good order would take over. Any other failure (a peer that stopped reading)
            // ends the channel now.
            if ((e.InnerException ?? e) is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown }) return;
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
        Close("said goodbye");
    }

    public void Dispose() => Close("disposed");
}
