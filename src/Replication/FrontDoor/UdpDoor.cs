using System.Net;
using System.Net.Sockets;

namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// One exposed UDP port on this node: a thread receives datagrams and reports them; answers are sent
/// from the caller's thread. The receive buffer holds any IPv4 datagram whole, so an oversized one is
/// seen at its full length and refused, never cut. Where the kernel stamps arrivals (<see cref="DatagramTimestamps"/>),
/// each datagram is reported with how long it waited in the socket before it was read.
/// </summary>
public sealed class UdpDoor : IDisposable
{
    private const int ReceiveBuffer = 64 * 1024;

    private readonly Socket _socket;
    private readonly int _maxPacket;
    private readonly IDoorFacts _facts;
    private readonly Thread _thread;
    private readonly bool _stamped;
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
        _stamped = DatagramTimestamps.TryEnable(_socket);
        _thread = new Thread(_stamped ? ReceiveStamped : Receive) { IsBackground = true, Name = $"udp-door-{port}" };
    }

    public void Start() => _thread.Start();

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
        if (_stamped) Poke();
        _socket.Dispose();
    }

    /// <summary>An empty datagram to this door's own address, so its thread waiting in poll sees the close now.</summary>
    private void Poke()
    {
        try
        {
            var local = (IPEndPoint)_socket.LocalEndPoint!;
            var to = local.Address.Equals(IPAddress.Any) ? IPAddress.Loopback : local.Address.Equals(IPAddress.IPv6Any) ? IPAddress.IPv6Loopback : local.Address;
            using var poke = new Socket(to.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            poke.SendTo([], new IPEndPoint(to, local.Port));
        }
        catch (SocketException)
        {
            // The thread sees the close at its next wake-up (within a second) instead.
        }
    }

    private void Receive()
    {
        var buffer = new byte[Math.Max(ReceiveBuffer, _maxPacket + 1)];
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

    private void ReceiveStamped()
    {
        var buffer = new byte[Math.Max(ReceiveBuffer, _maxPacket + 1)];
        while (!_closed)
        {
            int length;
            IPEndPoint? client;
            TimeSpan waited;
            try
            {
                // Bounded, in case the poke at closing is lost: an idle port wakes once a second.
                length = DatagramTimestamps.Receive(_socket, buffer, 1000, out client, out waited);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (!_closed) _facts.DoorFailed("udp", e.Message);
                return;
            }
            if (_closed) return;
            if (length >= 0 && client is not null) Report(client, buffer, length, waited);
        }
    }

    private void Report(IPEndPoint client, byte[] buffer, int length, TimeSpan waited)
    {
        if (length > _maxPacket) _facts.DatagramTooLarge(client, length);
        else _facts.Datagram(client, buffer.AsSpan(0, length).ToArray(), waited);
    }
}
