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
}
