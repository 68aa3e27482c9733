using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lockstep.Harness;

/// <summary>
/// A UDP client of a VM exposed on every node (the front door): one socket, so the nodes see one client
/// address and give it one guest peer id, the same on every node; each datagram goes to the node it is turned
/// to, and <see cref="SendToNext"/> turns to the next node's address, as a client does when its request goes
/// unanswered. Answers may come from any node (a late one from a node it turned away from included).
/// Sending and receiving may happen on different threads; turning is for one caller.
/// </summary>
public sealed class DoorSocket : IDisposable
{
    /// <summary>The largest UDP payload over IPv4 (65,535 less the IP and UDP headers).</summary>
    public const int MaxDatagram = 65_507;

    private readonly IReadOnlyList<IPEndPoint> _doors;
    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[MaxDatagram + 1];
    private int _at;

    /// <param name="doors">Each node's address at the VM's port; at least one.</param>
    /// <param name="first">The index of the node to send to first.</param>
    public DoorSocket(IReadOnlyList<IPEndPoint> doors, int first = 0)
    {
        if (doors.Count == 0) throw new ArgumentException("no node to send to", nameof(doors));
        if (first < 0 || first >= doors.Count) throw new ArgumentOutOfRangeException(nameof(first));
        _doors = doors;
        _at = first;
        // One address family for all: a node's address and the client's must be of the same one.
        var family = doors[0].AddressFamily;
        _socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0));
    }

    public IReadOnlyList<IPEndPoint> Doors => _doors;

    /// <summary>The node the next datagram goes to.</summary>
    public IPEndPoint Current => _doors[_at];

    /// <summary>Datagrams sent after turning to the next node.</summary>
    public int Turns { get; private set; }

    /// <summary>Sends <paramref name="data"/> to <see cref="Current"/>.</summary>
    /// <exception cref="ArgumentException">More than <see cref="MaxDatagram"/> bytes.</exception>
    public void Send(byte[] data)
    {
        if (data.Length > MaxDatagram) throw new ArgumentException($"a datagram of {data.Length} bytes: at most {MaxDatagram} fit", nameof(data));
        try
        {
            _socket.SendTo(data, Current);
        }
        catch (SocketException)
        {
            // Unreachable for the moment (a port unreachable reported on this socket): the caller resends, to the next node.
        }
    }

    /// <summary>Turns to the next node's address and sends <paramref name="data"/> there.</summary>
    public void SendToNext(byte[] data)
    {
        Turn();
        Send(data);
    }

    /// <summary>Turns to the next node's address.</summary>
    public void Turn()
    {
        _at = (_at + 1) % _doors.Count;
        Turns++;
    }

    /// <summary>The next datagram (its text without a line end, and the node it came from); null once disposed.</summary>
    public async ValueTask<(string Text, IPEndPoint From)?> ReceiveAsync(CancellationToken cancel)
    {
        while (true)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(_buffer, SocketFlags.None, new IPEndPoint(_socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0), cancel);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                continue; // a node not listening answered an earlier datagram with "port unreachable"
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException or SocketException { SocketErrorCode: SocketError.OperationAborted })
            {
                return null;
            }
            string text = Encoding.UTF8.GetString(_buffer, 0, received.ReceivedBytes).TrimEnd('\n').TrimEnd('\r');
            return (text, (IPEndPoint)received.RemoteEndPoint);
        }
    }

    public void Dispose() => _socket.Dispose();
}
