using System.Net;
using System.Net.Sockets;
using Lockstep.Host.Cli;

namespace Lockstep.Host.Demo;

/// <summary>Picks ports for the demo's nodes that nothing else on this machine is listening on.</summary>
public static class DemoPorts
{
    private const int SearchWidth = 200;

    /// <summary>The first <paramref name="count"/> free ports from <paramref name="basePort"/> upwards.</summary>
    public static IReadOnlyList<int> FindFree(int basePort, int count)
    {
        var found = new List<int>();
        for (int port = basePort; port < basePort + SearchWidth && port <= 65535 && found.Count < count; port++)
        {
            if (IsFree(port)) found.Add(port);
        }
        if (found.Count < count)
            throw new UsageException($"--base-port {basePort}: fewer than {count} free ports in {basePort}..{basePort + SearchWidth - 1}");
        return found;
    }

    private static bool IsFree(int port)
    {
        // Binding is the only reliable test; the node binds the same loopback address right after.
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
