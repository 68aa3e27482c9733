using System.Net;
using Lockstep.Replication.FrontDoor;

namespace Lockstep.Replication.Tests;

/// <summary>Front-door peer ids: the same UDP client is the same peer on every node; ids never meet `vm send`'s.</summary>
public sealed class PeerIdsTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Parse("127.0.0.1"), 40000);

    [Fact]
    public void A_datagram_client_has_one_id_whatever_the_node_and_a_fixed_one()
    {
        uint id = PeerIds.ForDatagram(7000, Client);
        Assert.Equal(id, PeerIds.ForDatagram(7000, new IPEndPoint(IPAddress.Parse("127.0.0.1"), 40000)));
        // IPv4 seen through a dual-stack socket is the same client.
        Assert.Equal(id, PeerIds.ForDatagram(7000, new IPEndPoint(IPAddress.Parse("127.0.0.1").MapToIPv6(), 40000)));
        // Computed from the text only (no per-process hash seed): the same in every node process and every run.
        Assert.Equal(0x8000_0000u | (Fnv("udp|7000|127.0.0.1|40000") & 0x3FFF_FFFF), id);
        Assert.True(PeerIds.IsDatagramPeer(id));
        Assert.False(PeerIds.IsConnectionPeer(id));
    }

    [Fact]
    public void Other_ports_or_addresses_are_other_peers()
    {
        uint id = PeerIds.ForDatagram(7000, Client);
        Assert.NotEqual(id, PeerIds.ForDatagram(7000, new IPEndPoint(IPAddress.Parse("127.0.0.1"), 40001)));
        Assert.NotEqual(id, PeerIds.ForDatagram(7000, new IPEndPoint(IPAddress.Parse("127.0.0.2"), 40000)));
        Assert.NotEqual(id, PeerIds.ForDatagram(7001, Client));
    }

    [Fact]
    public void Connections_are_peers_of_their_own_even_from_the_same_client_port()
    {
        var node = new IPEndPoint(IPAddress.Parse("127.0.0.2"), 7000);
        uint first = PeerIds.ForConnection(node, Client, 1, 100);
        Assert.True(PeerIds.IsConnectionPeer(first));
        Assert.NotEqual(first, PeerIds.ForConnection(node, Client, 2, 100));
        Assert.NotEqual(first, PeerIds.ForConnection(node, Client, 1, 101));
        Assert.NotEqual(first, PeerIds.ForConnection(new IPEndPoint(IPAddress.Parse("127.0.0.3"), 7000), Client, 1, 100));
    }

    [Fact]
    public void Front_door_ids_stay_clear_of_vm_send_peers()
    {
        var random = new Random(5);
        for (int i = 0; i < 10_000; i++)
        {
            var client = new IPEndPoint(new IPAddress(random.NextInt64(1, uint.MaxValue)), random.Next(1, 65536));
            Assert.True(PeerIds.ForDatagram(random.Next(1, 65536), client) >= PeerIds.FirstFrontDoorPeer);
            Assert.True(PeerIds.ForConnection(client, client, i, 0) >= PeerIds.FirstFrontDoorPeer);
        }
    }

    private static uint Fnv(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text) hash = (hash ^ c) * 16777619;
        return hash;
    }
}
