using System.Net;
using System.Net.Sockets;

namespace Lockstep.Harness;

/// <summary>Loopback ports that nothing on this machine listens on, for the nodes to bind.</summary>
public static class FreePorts
{
    /// <summary>True when <paramref name="port"/> can be bound on <paramref name="host"/> (default 127.0.0.1) right now.</summary>
    public static bool IsFree(int port, IPAddress? host = null)
    {
        // Binding is the only reliable test; the node binds the same loopback address right after.
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(host ?? IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Up to <paramref name="count"/> free ports in <paramref name="basePort"/> .. <paramref name="basePort"/> + <paramref name="searchWidth"/> - 1, lowest first; fewer when that range has fewer.</summary>
    public static IReadOnlyList<int> FindFree(int basePort, int count, int searchWidth)
    {
        var found = new List<int>();
        for (int port = basePort; port < basePort + searchWidth && port <= IPEndPoint.MaxPort && found.Count < count; port++)
        {
            if (IsFree(port)) found.Add(port);
        }
        return found;
    }

    /// <summary>
    /// A port for each of <paramref name="hosts"/> in turn, free on that host, each above the one before, from
    /// <paramref name="basePort"/> up to <paramref name="searchWidth"/> ports on; fewer when that range has fewer.
    /// </summary>
    public static IReadOnlyList<int> FindFree(int basePort, IReadOnlyList<IPAddress> hosts, int searchWidth)
    {
        var found = new List<int>();
        int port = basePort;
        foreach (var host in hosts)
        {
            while (port < basePort + searchWidth && port <= IPEndPoint.MaxPort && !IsFree(port, host)) port++;
            if (port >= basePort + searchWidth || port > IPEndPoint.MaxPort) break;
            found.Add(port++);
        }
        return found;
    }

    /// <summary>The first port from <paramref name="basePort"/> (within <paramref name="searchWidth"/>) that every one of <paramref name="hosts"/> can bind for UDP and TCP, as an exposed VM's port must be; null when none.</summary>
    public static int? FindFreeOnAll(int basePort, IReadOnlyList<IPAddress> hosts, int searchWidth)
    {
        for (int port = basePort; port < basePort + searchWidth && port <= IPEndPoint.MaxPort; port++)
        {
            if (hosts.All(h => IsFree(port, h) && IsFreeForDatagrams(port, h))) return port;
        }
        return null;
    }

    private static bool IsFreeForDatagrams(int port, IPAddress host)
    {
        try
        {
            using var socket = new Socket(host.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(host, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
