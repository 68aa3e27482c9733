using System.Net;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>How `vm send` was told to reach the VM: <c>--via</c>.</summary>
public enum SendVia
{
    /// <summary>The front door when the VM is exposed, else ClusterClient (said on stderr).</summary>
    Auto,

    /// <summary>The front door only; a VM not exposed is an error.</summary>
    Door,

    /// <summary>ClusterClient, as a peer number of the client's choosing.</summary>
    Cluster,
}

/// <summary>
/// Picks `vm send`'s data path through the control plane, once, before any packet, unless told to use ClusterClient:
/// the VM's status (which also refuses an unknown VM) and its exposure, whose listener reports name
/// every live node's address at the VM's port. The front door's nodes are ordered from the primary's, so the
/// first datagram takes the shortest way.
/// </summary>
public static class SendRoute
{
    /// <summary>How long a VM just exposed may take until some node reports its listener open.</summary>
    private static readonly TimeSpan ListenerWait = TimeSpan.FromSeconds(5);

    /// <summary>The front door's addresses at the chosen port (the first to send to first), or null: send through ClusterClient.</summary>
    /// <param name="port">The exposed port to use; null: the VM's first.</param>
    /// <param name="note">Told why ClusterClient is used when <paramref name="via"/> was <see cref="SendVia.Auto"/>.</param>
    /// <exception cref="GatewayException">Unknown VM; not exposed (with <see cref="SendVia.Door"/>); not exposed on <paramref name="port"/>.</exception>
    /// <exception cref="ClusterUnavailableException">No node listens for the VM on the port.</exception>
    public static IReadOnlyList<IPEndPoint>? Doors(ControlClient client, string vm, SendVia via, int? port, Action<string> note)
    {
        // ClusterClient's path needs nothing from the control plane first (an unknown VM is refused by its first packet).
        if (via == SendVia.Cluster) return null;
        var status = client.Ask<VmStatus>(new GetVmStatus(vm));
        var exposure = client.Ask<VmExposure>(new GetExposure(vm));
        if (exposure.Ports.Count == 0)
        {
            string how = $"`vm expose {vm} PORT` serves it on PORT of every node";
            if (via == SendVia.Door) throw new GatewayException($"{vm} is not exposed, so it has no front door; {how}");
            note($"{vm} is not exposed: sending through ClusterClient (slower, and a failover costs clients longer); {how}");
            return null;
        }
        int chosen = port ?? exposure.Ports.Min();
        if (!exposure.Ports.Contains(chosen))
            throw new GatewayException($"{vm} is not exposed on port {chosen}; its ports: {string.Join(", ", exposure.Ports)}");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var open = Open(exposure, chosen);
        while (open.Count == 0 && clock.Elapsed < ListenerWait)
        {
            Thread.Sleep(200);
            open = Open(client.Ask<VmExposure>(new GetExposure(vm)), chosen);
        }
        if (open.Count == 0)
            throw new ClusterUnavailableException($"no node listens for {vm} on port {chosen} (`vm expose {vm}` shows each node's listener)");
        int first = Math.Max(0, open.FindIndex(l => l.Node == status.Primary));
        return open.Skip(first).Concat(open.Take(first)).Select(l => new IPEndPoint(Address(l), chosen)).ToList();
    }

    private static List<ListenerState> Open(VmExposure exposure, int port) =>
        exposure.Listeners.Where(l => l.Port == port && l.Open).OrderBy(l => l.Node, StringComparer.Ordinal).ToList();

    /// <summary>The listener's address; a node listening on all its addresses is reached at its cluster address's host.</summary>
    private static IPAddress Address(ListenerState listener)
    {
        var address = IPAddress.Parse(listener.Host);
        if (!address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any)) return address;
        string host = listener.Node[..listener.Node.LastIndexOf(':')];
        return IPAddress.TryParse(host, out var parsed) ? parsed : Dns.GetHostAddresses(host).First(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork);
    }
}
