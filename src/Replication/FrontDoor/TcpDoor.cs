using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// One exposed TCP port on this node: connections are accepted on the process's <see cref="DoorPoller"/> thread
/// (elsewhere than Linux, on an accepting thread of the door's own) and each gets a reading thread, which
/// report connections and lines (<see cref="LineFramer"/>); answers are written from the caller's
/// thread, each followed by '\n'. At most <c>maxConnections</c> are open at once (each holds a thread):
/// one more is told why in an error line and closed, and counted (<see cref="RefusedConnections"/>).
/// </summary>
public sealed class TcpDoor : IDisposable
{
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(2);
    /// <summary>A refused client gets its error line within this, or not at all: the accepting thread must go on.</summary>
    private static readonly TimeSpan RefusalTimeout = TimeSpan.FromMilliseconds(100);

    private readonly Socket _listener;
    private readonly int _maxLine;
    private readonly int _maxConnections;
    private long _refused;
    private readonly IDoorFacts _facts;
    /// <summary>Connections accepted at one turn on the poller: a busy port lets the other doors go on before it takes more.</summary>
    private const int AcceptsPerTurn = 16;
    private readonly Thread? _accepting;
    private ulong? _polled;
    private readonly ConcurrentDictionary<long, Socket> _connections = new();
    private long _nextConnection;
    private volatile bool _closed;

    /// <exception cref="SocketException">The port cannot be bound (in use, no such address).</exception>
    public TcpDoor(IPAddress host, int port, int maxLine, IDoorFacts facts, int maxConnections = int.MaxValue)
    {
        if (maxConnections < 1) throw new ArgumentOutOfRangeException(nameof(maxConnections), maxConnections, "at least one connection");
        _maxLine = maxLine;
        _maxConnections = maxConnections;
        _facts = facts;
        _listener = new Socket(host.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.Bind(new IPEndPoint(host, port));
            _listener.Listen(64);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        if (DoorPoller.Supported) _listener.Blocking = false; // accepted when the poller says one waits; gone meanwhile must not block it
        else _accepting = new Thread(Accept) { IsBackground = true, Name = $"tcp-door-{port}" };
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Connections open now.</summary>
    public int OpenConnections => _connections.Count;

    /// <summary>Connections refused because <c>maxConnections</c> were open, since the door opened.</summary>
    public long RefusedConnections => Interlocked.Read(ref _refused);

    public void Start()
    {
        if (_accepting is not null) _accepting.Start();
        else _polled = DoorPoller.Shared.Add(_listener, AcceptSome);
    }

    /// <summary>Writes <paramref name="data"/> and '\n'; null when written, else why not (the connection is then closed).</summary>
    public string? Write(long connection, byte[] data)
    {
        if (!_connections.TryGetValue(connection, out var socket)) return "connection closed";
        var line = new byte[data.Length + 1];
        data.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        try
        {
            lock (socket) socket.Send(line);
            return null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Close(connection);
            return e.Message;
        }
    }

    public void Close(long connection)
    {
        if (_connections.TryRemove(connection, out var socket)) socket.Dispose();
    }

    public void Dispose()
    {
        _closed = true;
        if (_polled is { } id) DoorPoller.Shared.Remove(_listener, id);
        _listener.Dispose();
        foreach (long connection in _connections.Keys) Close(connection);
    }

    private void Accept()
    {
        while (!_closed)
        {
            Socket socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (!_closed) _facts.DoorFailed("tcp", e.Message);
                return;
            }
            Accepted(socket);
        }
    }

    /// <summary>On the poller's thread: the connections waiting, up to <see cref="AcceptsPerTurn"/>.</summary>
    private void AcceptSome()
    {
        for (int i = 0; i < AcceptsPerTurn && !_closed; i++)
        {
            Socket socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.ConnectionAborted or SocketError.Interrupted)
            {
                return; // none left, or one that went away before it was taken
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (_closed) return;
                if (_polled is { } id) DoorPoller.Shared.Remove(_listener, id);
                _facts.DoorFailed("tcp", e.Message);
                return;
            }
            socket.Blocking = true;
            Accepted(socket);
        }
    }

    private void Accepted(Socket socket)
    {
        IPEndPoint client;
        try
        {
            socket.NoDelay = true;
            client = (IPEndPoint)socket.RemoteEndPoint!;
        }
        catch (SocketException)
        {
            socket.Dispose(); // reset between the accept and now: nobody to serve
            return;
        }
        if (_connections.Count >= _maxConnections)
        {
            Refuse(socket, client);
            return;
        }
        socket.SendTimeout = (int)SendTimeout.TotalMilliseconds;
        long connection = Interlocked.Increment(ref _nextConnection);
        _connections[connection] = socket;
        _facts.Connected(connection, client);
        new Thread(() => Read(connection, socket)) { IsBackground = true, Name = $"tcp-door-{LocalEndPoint.Port}-{connection}" }.Start();
    }

    private void Refuse(Socket socket, IPEndPoint client)
    {
        Interlocked.Increment(ref _refused);
        try
        {
            socket.SendTimeout = (int)RefusalTimeout.TotalMilliseconds;
            socket.Send(Encoding.UTF8.GetBytes($"ERROR lockstep: too many connections to this port ({_maxConnections} open); try again later\n"));
            socket.Shutdown(SocketShutdown.Send);
            // Closed only once the client's own bytes are read (or after a while): closing with them unread would reset
            // the connection, and the client could lose the error line. Off the accepting thread, which must go on.
            _ = Task.Run(() => Drain(socket));
        }
        catch (SocketException)
        {
            socket.Dispose(); // a client gone already: nothing to tell it
        }
        _facts.ConnectionRefused(client, _maxConnections);
    }

    private static void Drain(Socket socket)
    {
        using (socket)
        {
            var buffer = new byte[4096];
            var until = DateTime.UtcNow + TimeSpan.FromSeconds(1);
            try
            {
                socket.ReceiveTimeout = 1000;
                while (DateTime.UtcNow < until && socket.Receive(buffer) > 0) { }
            }
            catch (SocketException)
            {
                // timed out or reset: closed either way
            }
        }
    }

    private void Read(long connection, Socket socket)
    {
        var framer = new LineFramer(_maxLine);
        var buffer = new byte[64 * 1024];
        string why;
        try
        {
            while (true)
            {
                int got = socket.Receive(buffer);
                if (got == 0)
                {
                    // Maybe only half closed: the owner closes the connection once the answers are out.
                    _facts.ReadEnded(connection);
                    return;
                }
                framer.Feed(buffer.AsSpan(0, got), line => _facts.Line(connection, line), () => _facts.LineTooLong(connection));
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            why = _closed || !_connections.ContainsKey(connection) ? "closed by this node" : e.Message;
        }
        Close(connection);
        _facts.Disconnected(connection, why);
    }
}
