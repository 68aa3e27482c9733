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
}
