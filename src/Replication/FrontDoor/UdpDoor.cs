using System.Net;
using System.Net.Sockets;

namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// One exposed UDP port on this node: datagrams are read and reported on the process's <see cref="DoorPoller"/>
/// thread (elsewhere than Linux, on a thread of the door's own); answers are sent from the caller's thread. The
/// receive buffer holds any IPv4 datagram whole, so an oversized one is seen at its full length and refused, never
/// cut. Where the kernel stamps arrivals (<see cref="DatagramTimestamps"/>), each datagram is reported with how long
/// it waited in the socket before it was read.
/// </summary>
public sealed class UdpDoor : IDisposable
{
    private const int ReceiveBuffer = 64 * 1024;
    /// <summary>Datagrams read at one turn on the poller: a busy door lets the others read before it goes on.</summary>
    private const int ReadsPerTurn = 16;

    private readonly Socket _socket;
    private readonly int _maxPacket;
    private readonly IDoorFacts _facts;
    private readonly Thread? _thread;
    // One per reading thread, not per door: on the poller a thousand doors share one.
    [ThreadStatic] private static byte[]? t_buffer;
    private ulong? _polled;
    private volatile bool _closed;

    /// <exception cref="SocketException">The port cannot be bound (in use, no such address).</exception>
    public UdpDoor(IPAddress host, int port, int maxPacket, IDoorFacts facts)
    {
        _maxPacket = maxPacket;
        _facts = facts;
        _socket = new Socket(host.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.Bind(new IPEndPoint(host, port));
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        if (DoorPoller.Supported) DatagramTimestamps.TryEnable(_socket);
        else _thread = new Thread(Receive) { IsBackground = true, Name = $"udp-door-{port}" };
    }

    public IPEndPoint LocalEndPoint { get; }

    public void Start()
    {
        if (_thread is not null) _thread.Start();
        else _polled = DoorPoller.Shared.Add(_socket, ReadSome);
    }

    /// <summary>Sends one datagram; null when sent, else why not.</summary>
    public string? Send(IPEndPoint client, byte[] data)
    {
        try
        {
            _socket.SendTo(data, client);
            return null;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return e.Message;
        }
    }

    public void Dispose()
    {
        _closed = true;
        if (_polled is { } id) DoorPoller.Shared.Remove(_socket, id);
        _socket.Dispose();
    }

    /// <summary>On the poller's thread: what the socket holds, up to <see cref="ReadsPerTurn"/> datagrams.</summary>
    private void ReadSome()
    {
        for (int i = 0; i < ReadsPerTurn && !_closed; i++)
        {
            int length;
            IPEndPoint? client;
            TimeSpan waited;
            try
            {
                length = DatagramTimestamps.TryReceive(_socket, Buffer(), out client, out waited);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (_closed) return;
                if (_polled is { } id) DoorPoller.Shared.Remove(_socket, id);
                _facts.DoorFailed("udp", e.Message);
                return;
            }
            if (length < 0 || client is null) return;
            Report(client, Buffer(), length, waited);
        }
    }

    private void Receive()
    {
        var buffer = Buffer();
        EndPoint from = new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_closed)
        {
            int length;
            try
            {
                length = _socket.ReceiveFrom(buffer, ref from);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused)
            {
                continue; // an ICMP "port unreachable" for an earlier answer: that client is gone, the door is fine
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (!_closed) _facts.DoorFailed("udp", e.Message);
                return;
            }
            Report((IPEndPoint)from, buffer, length, TimeSpan.Zero);
        }
    }

    private byte[] Buffer()
    {
        int size = Math.Max(ReceiveBuffer, _maxPacket + 1);
        if (t_buffer is null || t_buffer.Length < size) t_buffer = new byte[size];
        return t_buffer;
    }

    private void Report(IPEndPoint client, byte[] buffer, int length, TimeSpan waited)
    {
        if (length > _maxPacket) _facts.DatagramTooLarge(client, length);
        else _facts.Datagram(client, buffer.AsSpan(0, length).ToArray(), waited);
    }
}
