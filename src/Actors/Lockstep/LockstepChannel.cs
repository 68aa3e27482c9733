using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace Lockstep.Actors.Lockstep;

/// <summary>
/// One TCP connection between a primary and its secondary, outside Akka.Remote: the log and the
/// acknowledgements are latency-critical, and a killed process closes its socket at once, which
/// is the fastest failure signal there is. Sends are queued and written by a sender thread (the
/// VM never blocks on the network); received frames go to a callback on a reader thread.
/// Frame: [u8 type][u32 length][payload].
/// </summary>
public sealed class LockstepChannel : IDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly BlockingCollection<byte[]> _outbox = new(new ConcurrentQueue<byte[]>());
    private readonly Action<FrameType, byte[]> _onFrame;
    private long _lastReceived = Stopwatch.GetTimestamp();
    private long _bytesSent;
    private volatile string? _closedReason;

    public LockstepChannel(Socket socket, Action<FrameType, byte[]> onFrame)
    {
        _socket = socket;
        _socket.NoDelay = true;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _onFrame = onFrame;
        new Thread(SendLoop) { IsBackground = true, Name = "lockstep-send" }.Start();
        new Thread(ReceiveLoop) { IsBackground = true, Name = "lockstep-receive" }.Start();
    }

    /// <summary>Why the channel is dead, or null while it lives.</summary>
    public string? ClosedReason => _closedReason;
    public bool IsOpen => _closedReason is null;
    public long BytesSent => Interlocked.Read(ref _bytesSent);
    public TimeSpan SilentFor => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastReceived));

    /// <summary>Fires once, on whichever thread notices the end first.</summary>
    public event Action<string>? Closed;

    public static LockstepChannel Connect(string host, int port, Action<FrameType, byte[]> onFrame, TimeSpan timeout)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(timeout);
        socket.ConnectAsync(host, port, cts.Token).AsTask().GetAwaiter().GetResult();
        return new LockstepChannel(socket, onFrame);
    }

    public void Send(FrameType type, ReadOnlySpan<byte> payload)
    {
        if (!IsOpen) return;
        var frame = new byte[5 + payload.Length];
        frame[0] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(1), payload.Length);
        payload.CopyTo(frame.AsSpan(5));
        try
        {
            _outbox.Add(frame);
        }
        catch (InvalidOperationException)
        {
            // Closed between the check and the add: the frame has nowhere to go.
        }
    }

    private void SendLoop()
    {
        var batch = new MemoryStream();
        try
        {
            foreach (var frame in _outbox.GetConsumingEnumerable())
            {
                // Coalesce what is queued into one write: fewer syscalls under load, no added delay when idle.
                batch.SetLength(0);
                batch.Write(frame);
                while (batch.Length < 1 << 20 && _outbox.TryTake(out var more)) batch.Write(more);
                _stream.Write(batch.GetBuffer(), 0, (int)batch.Length);
                Interlocked.Add(ref _bytesSent, batch.Length);
            }
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
            while (IsOpen)
            {
                _stream.ReadExactly(header);
                int length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(1));
                if (length < 0 || length > 1 << 30) throw new IOException($"bad frame length {length}");
                var payload = new byte[length];
                _stream.ReadExactly(payload);
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
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
            Close($"connection lost: {e.Message}");
        }
    }

    public void Close(string reason)
    {
        lock (_outbox)
        {
            if (_closedReason is not null) return;
            _closedReason = reason;
        }
        _outbox.CompleteAdding();
        try { _socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _stream.Dispose();
        Closed?.Invoke(reason);
    }

    /// <summary>Tells the peer this is an orderly end, so it does not fail over.</summary>
    public void SayGoodbye()
    {
        Send(FrameType.Goodbye, []);
        Thread.Sleep(20); // let the sender thread flush it before the socket goes
        Close("said goodbye");
    }

    public void Dispose() => Close("disposed");
}
