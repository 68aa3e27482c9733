using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.FrontDoor;

/// <summary>
/// A coordinator's record of its VM's exposure: the ports (persisted with the VM's definition by the
/// coordinator) and, in memory only, what each node's front door last reported about its listeners.
/// </summary>
public sealed class ExposureBook
{
    public const int MaxPorts = 16;

    /// <summary>A node that has not reported for this long (it answers every announcement, every 3 s) is left out: it is likely gone.</summary>
    public static readonly TimeSpan ReportsExpire = TimeSpan.FromSeconds(10);

    private readonly SortedSet<int> _ports = [];
    private readonly Dictionary<string, (IReadOnlyList<ListenerState> Listeners, DateTime At)> _byNode = [];

    public IReadOnlyList<int> Ports => _ports.ToList();

    public bool Contains(int port) => _ports.Contains(port);

    public void Add(int port) => _ports.Add(port);

    public void Clear()
    {
        _ports.Clear();
        _byNode.Clear();
    }

    public void Record(ListenerReport report, DateTime now) => _byNode[report.Node] = (report.Listeners, now);

    /// <summary>Null when <paramref name="port"/> may be exposed, else why not.</summary>
    public string? Refusal(int port)
    {
        if (port is < 1 or > 65535) return $"invalid port {port}: use 1-65535";
        if (!_ports.Contains(port) && _ports.Count >= MaxPorts) return $"a VM can be exposed on at most {MaxPorts} ports";
        return null;
    }

    public ExposureAnnounce Announce(string name) => new(name, Ports);

    public VmExposure Describe(string name, DateTime now) =>
        new(name, Ports, _byNode.Values.Where(r => now - r.At < ReportsExpire).SelectMany(r => r.Listeners).Where(l => _ports.Contains(l.Port))
            .OrderBy(l => l.Port).ThenBy(l => l.Node, StringComparer.Ordinal).ToList());
}
