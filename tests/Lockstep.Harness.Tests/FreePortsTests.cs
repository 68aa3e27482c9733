using System.Net;
using System.Net.Sockets;

namespace Lockstep.Harness.Tests;

public sealed class FreePortsTests
{
    [Fact]
    public void A_port_with_a_listener_is_not_free_and_is_skipped()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int taken = ((IPEndPoint)listener.LocalEndpoint).Port;
        Assert.False(FreePorts.IsFree(taken));
        Assert.DoesNotContain(taken, FreePorts.FindFree(taken, count: 2, searchWidth: 50));
    }

    [Fact]
    public void A_range_too_small_gives_fewer_ports_than_asked()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int taken = ((IPEndPoint)listener.LocalEndpoint).Port;
        Assert.Empty(FreePorts.FindFree(taken, count: 1, searchWidth: 1));
    }

    [Fact]
    public void Per_host_a_port_taken_on_that_host_is_skipped_and_a_door_port_must_be_free_for_udp_on_every_host()
    {
        var hosts = new[] { IPAddress.Parse("127.0.0.1"), IPAddress.Parse("127.0.0.2") };
        // A UDP socket alone on the second host: TCP there is free, a door's port is not.
        using var datagrams = new UdpClient(new IPEndPoint(hosts[1], 0));
        int taken = ((IPEndPoint)datagrams.Client.LocalEndPoint!).Port;
        Assert.NotEqual(taken, FreePorts.FindFreeOnAll(taken, hosts, searchWidth: 20));
        Assert.Null(FreePorts.FindFreeOnAll(taken, hosts, searchWidth: 1));

        using var listener = new TcpListener(hosts[1], 0);
        listener.Start();
        int held = ((IPEndPoint)listener.LocalEndpoint).Port;
        var ports = FreePorts.FindFree(held - 1, hosts, searchWidth: 50);
        Assert.Equal(2, ports.Count);
        Assert.True(ports[0] < ports[1]);
        Assert.NotEqual(held, ports[1]);
    }
}
