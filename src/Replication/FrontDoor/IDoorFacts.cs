using System.Net;

namespace Lockstep.Replication.FrontDoor;

/// <summary>What a front door's sockets report, from their own threads. The actor that owns them decides.</summary>
public interface IDoorFacts
{
    void Datagram(IPEndPoint client, byte[] data);

    /// <summary>A datagram that sat <paramref name="waited"/> in the socket before it was read (zero where the kernel does not say).</summary>
    void Datagram(IPEndPoint client, byte[] data, TimeSpan waited) => Datagram(client, data);

    void DatagramTooLarge(IPEndPoint client, int length);

    void Connected(long connection, IPEndPoint client);

    /// <summary>A connection was refused (and told so) because <paramref name="limit"/> were open already.</summary>
    void ConnectionRefused(IPEndPoint client, int limit) { }

    void Line(long connection, byte[] data);

    void LineTooLong(long connection);

    /// <summary>The client closed its sending side (as `nc` does at the end of its input): answers can still go to it.</summary>
    void ReadEnded(long connection);

    void Disconnected(long connection, string why);

    /// <summary>A listening socket failed after it was open (not a bind failure: those are thrown at opening).</summary>
    void DoorFailed(string what, string why);
}
