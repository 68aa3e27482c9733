using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Lockstep.Replication.Channel;

/// <summary>
/// The secondary's listening socket. It admits one connection: the first whose opening frame is a
/// hello with this attach's token. Any other connection (garbage, a wrong or missing token, silence)
/// is dropped and the listener keeps waiting for the real primary. Accepting is polled on the
/// caller's thread (a select over the listener and the connections not yet checked), not asynchronous: an async accept completes on the thread pool, and on a node
/// whose pool is busy the primary's connect timed out meanwhile.
/// </summary>
public sealed class ChannelListener : IDisposable
{
    /// <summary>How long an accepted connection may take to present its hello: an honest primary sends it right after connecting.</summary>
    public static readonly TimeSpan HelloTimeout = TimeSpan.FromSeconds(1);

    private readonly TcpListener _listener;
    private readonly AttachToken _token;

    public ChannelListener(string host, AttachToken token)
    {
        _token = token;
        _listener = new TcpListener(IPAddress.Parse(host), 0);
        _listener.Start(8);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Connections refused so far, and why (for the node's log).</summary>
    public event Action<CloseReason, string>? Refused;

    /// <summary>
    /// Waits for the authenticated primary until <paramref name="deadline"/> (a Stopwatch timestamp) or until
    /// <paramref name="stopping"/> says so; null then. The returned socket has had its hello read, nothing more.
    /// Connections are checked as their first bytes arrive, so one that stays silent holds up no other.
    /// </summary>
    public Socket? AcceptPrimary(long deadline, Func<bool> stopping)
    {
        var pending = new List<(Socket Socket, long Since)>();
        try
        {
            while (!stopping() && Stopwatch.GetTimestamp() < deadline)
            {
                var readable = new List<Socket>(pending.Count + 1) { _listener.Server };
                readable.AddRange(pending.Select(p => p.Socket));
                Socket.Select(readable, null, null, 100_000);
                foreach (var socket in readable)
                {
                    if (socket == _listener.Server)
                    {
                        pending.Add((_listener.AcceptSocket(), Stopwatch.GetTimestamp()));
                        continue;
                    }
                    pending.RemoveAll(p => p.Socket == socket);
                    var (admitted, reason, detail) = CheckHello(socket);
                    if (admitted) return socket;
                    Refuse(socket, reason, detail);
                }
                foreach (var stale in pending.Where(p => Stopwatch.GetElapsedTime(p.Since) > HelloTimeout).ToList())
                {
                    pending.Remove(stale);
                    Refuse(stale.Socket, CloseReason.Unauthenticated, $"no hello within {HelloTimeout.TotalSeconds:0} s");
                }
            }
            return null;
        }
        finally
        {
            foreach (var (socket, _) in pending) socket.Dispose();
        }
    }

    private void Refuse(Socket socket, CloseReason reason, string detail)
    {
        socket.Dispose();
        Refused?.Invoke(reason, detail);
    }

    private (bool, CloseReason, string) CheckHello(Socket socket)
    {
        socket.ReceiveTimeout = (int)HelloTimeout.TotalMilliseconds;
        var header = new byte[FrameCodec.HeaderSize];
        try
        {
            ReadExactly(socket, header);
            if (header[0] != (byte)FrameType.Hello) return (false, CloseReason.Unauthenticated, $"first frame of type {header[0]}, not a hello");
            int length = FrameCodec.PayloadLength(header);
            if (length != AttachToken.Length) return (false, CloseReason.Unauthenticated, $"hello of {length} bytes");
            var token = new byte[length];
            ReadExactly(socket, token);
            return _token.Matches(token)
                ? (true, CloseReason.Local, "")
                : (false, CloseReason.Unauthenticated, "hello with a wrong token");
        }
        catch (FrameFormatException e)
        {
            return (false, CloseReason.Malformed, e.Message);
        }
        catch (Exception e) when (e is SocketException or EndOfStreamException or ObjectDisposedException)
        {
            return (false, CloseReason.Unauthenticated, $"no hello ({e.Message})");
        }
    }

    private static void ReadExactly(Socket socket, Span<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            int read = socket.Receive(buffer);
            if (read == 0) throw new EndOfStreamException("closed before its hello");
            buffer = buffer[read..];
        }
    }

    public void Dispose() => _listener.Stop();
}
