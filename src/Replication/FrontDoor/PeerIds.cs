using System.Net;
using System.Text;

namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// The guest peer ids of front-door clients. A UDP client's id depends only on the exposed port and its
/// own address and port, so every node gives it the same id: a client that turns to another node after
/// a failure stays the same peer, and the guest's per-peer de-duplication still holds. A TCP connection
/// is a peer of its own. Front-door ids have the top bit set; `vm send` peers stay below it.
/// </summary>
public static class PeerIds
{
    /// <summary>Ids at and above this are the front door's.</summary>
    public const uint FirstFrontDoorPeer = 0x8000_0000;

    private const uint TcpBit = 0x4000_0000;
    private const uint HashBits = 0x3FFF_FFFF;

    /// <summary>The peer of datagrams from <paramref name="client"/> to <paramref name="exposedPort"/>, on any node.</summary>
    public static uint ForDatagram(int exposedPort, IPEndPoint client) =>
        FirstFrontDoorPeer | (Fnv1a($"udp|{exposedPort}|{Canonical(client.Address)}|{client.Port}") & HashBits);

    /// <summary>
    /// The peer of one TCP connection. <paramref name="connection"/> (this node's count of connections) and
    /// <paramref name="nodeIncarnation"/> (when the node started) keep a new connection from the same client
    /// port from inheriting an old connection's answers.
    /// </summary>
    public static uint ForConnection(IPEndPoint node, IPEndPoint client, long connection, long nodeIncarnation) =>
        FirstFrontDoorPeer | TcpBit | (Fnv1a($"tcp|{node}|{Canonical(client.Address)}|{client.Port}|{connection}|{nodeIncarnation}") & HashBits);

    public static bool IsDatagramPeer(uint peer) => peer >= FirstFrontDoorPeer && (peer & TcpBit) == 0;

    public static bool IsConnectionPeer(uint peer) => peer >= FirstFrontDoorPeer && (peer & TcpBit) != 0;

    private static string Canonical(IPAddress address) => (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    private static uint Fnv1a(string text)
    {
        uint hash = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= 16777619;
        }
        return hash;
    }
}
