using System.Text;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>`vm expose NAME` for people: the ports, then each node's listener for each port.</summary>
public static class ExposureView
{
    public static string Render(VmExposure exposure)
    {
        var text = new StringBuilder();
        if (exposure.Ports.Count == 0) return $"{exposure.Name} is not exposed\n";
        text.Append($"{exposure.Name} is exposed on port {string.Join(", ", exposure.Ports)} (UDP and TCP) of every node\n");
        foreach (var port in exposure.Ports)
        {
            var listeners = exposure.Listeners.Where(l => l.Port == port).ToList();
            if (listeners.Count == 0) text.Append($"  port {port}: no node has reported yet\n");
            foreach (var l in listeners)
            {
                string refused = l.RefusedConnections > 0 ? $"; {l.RefusedConnections} TCP connections refused (too many open)" : "";
                text.Append(l.Open ? $"  port {port} on {l.Host} (node {l.Node}): listening{refused}\n" : $"  port {port} on {l.Host} (node {l.Node}): NOT LISTENING: {l.Problem}{refused}\n");
            }
        }
        return text.ToString();
    }
}
