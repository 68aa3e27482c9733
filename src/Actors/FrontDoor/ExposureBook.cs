using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.FrontDoor;

/// <summary>
/// A coordinator's record of its VM's exposure: the ports (persisted with the VM's definition by the
/// coordinator) and, in memory only, what each node's front door last reported about its listeners.
/// </summary>
public sealed class ExposureBook
{
    public const int MaxPorts = 16;

    private readonly SortedSet<int> _ports = [];
    private readonly Dictionary<string, IReadOnlyList<ListenerState>> _byNode = [];

    public IReadOnlyList<int> Ports => _ports.ToList();

    public bool Contains(int port) => _ports.Contains(port);

    public void Add(int port) => _ports.Add(port);

    public void Clear()
    {
        _ports.Clear();
        _byNode.Clear();
    }

    /// <summary>A front door reports when it is told the exposure and whenever one of its listeners changes, not periodically.</summary>
    public void Record(ListenerReport report) => _byNode[report.Node] = report.Listeners;

    /// <summary>Null when <paramref name="port"/> may be exposed, else why not.</summary>
    public string? Refusal(int port)
    {
        if (port is < 1 or > 65535) return $"invalid port {port}: use 1-65535";
        if (!_ports.Contains(port) && _ports.Count >= MaxPorts) return $"a VM can be exposed on at most {MaxPorts} ports";
        return null;
    }

    public ExposureAnnounce Announce(string name) => new(name, Ports);

    /// <param name="isLive">Whether a node ("host:port") is a live member: the reports of nodes that left are not shown.</param>
    public VmExposure Describe(string name, Func<string, bool> isLive) =>
        new(name, Ports, _byNode.Where(r => isLive(r.Key)).SelectMany(r => r.Value).Where(l => _ports.Contains(l.Port))
            .OrderBy(l => l.Port).ThenBy(l => l.Node, StringComparer.Ordinal).ToList());
}
