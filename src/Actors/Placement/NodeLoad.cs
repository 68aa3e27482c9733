using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Placement;

/// <summary>Which side of a VM a node is chosen for.</summary>
public enum PlacementRole { Primary, Secondary }

/// <summary>
/// This node's view of what every node runs, for placement: the counts each executor host publishes
/// (kept current by <see cref="NodeLoadListener"/>) plus the placements this node made itself that a
/// report may not show yet. A pick takes the candidate with the fewest of the role wanted (then the
/// fewest in all), so primaries and secondaries spread evenly, and after a node is lost the new
/// secondaries go to the survivors with the fewest. Picks are made by the coordinators (and by a primary
/// whose coordinator is silent) on whichever node each runs; each node's reservations cover the bursts
/// it makes itself (a create of many), and ties are broken by a hash of the VM's and the node's names,
/// so nodes that pick at the same moment on the same counts do not all choose the same node. A VM picked for again
/// while its reservation lives (its coordinator and its primary both placing after a takeover) gets the same node,
/// so one placement is not counted twice and the two do not go to different nodes.
/// One per actor system (an Akka extension); thread-safe, since actors on several threads pick.
/// </summary>
public sealed class NodeLoad : IExtension
{
    /// <summary>
    /// How long a placement counts on top of the reports at most. A report showing more of the role than the
    /// one before (for a secondary: more paired with the same primary node) takes as many of the oldest such
    /// reservations off (they are likely what it shows), so a placement is seldom counted twice; one that never
    /// starts stops counting after this.
    /// </summary>
    public static readonly TimeSpan ReservationLife = TimeSpan.FromSeconds(5);

    private readonly object _gate = new();
    private readonly Dictionary<Address, NodeLoadReport> _reports = [];
    private readonly List<Reservation> _reserved = [];

    private sealed record Reservation(string Vm, Address Node, PlacementRole Role, Address? PrimaryNode, DateTime At);

    public static NodeLoad Get(ActorSystem system) => system.WithExtension<NodeLoad, NodeLoadProvider>();

    public void Record(NodeLoadReport report)
    {
        lock (_gate)
        {
            if (_reports.TryGetValue(report.Node, out var previous))
            {
                Confirm(report.Node, PlacementRole.Primary, null, report.Primaries - previous.Primaries);
                foreach (var pair in report.SecondariesByPrimaryNode)
                    Confirm(report.Node, PlacementRole.Secondary, pair.PrimaryNode, pair.Count - Paired(previous, pair.PrimaryNode));
            }
            _reports[report.Node] = report;
        }
    }

    /// <summary>Takes off as many of the oldest reservations of this kind as the report shows grown.</summary>
    private void Confirm(Address node, PlacementRole role, Address? primaryNode, int grown)
    {
        for (int i = 0; i < grown; i++)
        {
            int oldest = _reserved.FindIndex(r => r.Node == node && r.Role == role && r.PrimaryNode == primaryNode);
            if (oldest < 0) return;
            _reserved.RemoveAt(oldest);
        }
    }

    private static int Paired(NodeLoadReport report, Address primaryNode) =>
        report.SecondariesByPrimaryNode.Where(p => p.PrimaryNode == primaryNode).Sum(p => p.Count);

    public void Forget(Address node)
    {
        lock (_gate)
        {
            _reports.Remove(node);
            _reserved.RemoveAll(r => r.Node == node);
        }
    }

    /// <summary>
    /// The Up, reachable member not in <paramref name="exclude"/> that has the fewest <paramref name="role"/>
    /// sides, reserved for it; null when there is none. For a secondary (<paramref name="primaryNode"/> given)
    /// first the node holding the fewest secondaries of that primary node's VMs: if that node is lost, its VMs
    /// take over where their secondaries are, and that load should spread over the survivors.
    /// </summary>
    public Address? Pick(Cluster cluster, IEnumerable<Address> exclude, PlacementRole role, string vm, Address? primaryNode = null) =>
        Pick(NodePicker.Candidates(cluster, exclude), role, vm, primaryNode, DateTime.UtcNow);

    /// <summary><see cref="Pick(Cluster, IEnumerable{Address}, PlacementRole, string, Address?)"/> among <paramref name="candidates"/>, at <paramref name="now"/>.</summary>
    public Address? Pick(IReadOnlyList<Address> candidates, PlacementRole role, string vm, Address? primaryNode, DateTime now)
    {
        if (candidates.Count == 0) return null;
        lock (_gate)
        {
            _reserved.RemoveAll(r => now - r.At > ReservationLife);
            int earlier = _reserved.FindIndex(r => r.Vm == vm && r.Role == role && r.PrimaryNode == primaryNode);
            if (earlier >= 0)
            {
                var previous = _reserved[earlier];
                _reserved.RemoveAt(earlier);
                if (candidates.Contains(previous.Node))
                {
                    _reserved.Add(previous with { At = now });
                    return previous.Node;
                }
            }
            var chosen = candidates
                .OrderBy(node => primaryNode is { } paired ? Paired(node, paired) : 0)
                .ThenBy(node => Count(node, role))
                .ThenBy(node => Count(node, PlacementRole.Primary) + Count(node, PlacementRole.Secondary))
                .ThenBy(node => TieBreak(vm, node))
                .First();
            _reserved.Add(new Reservation(vm, chosen, role, primaryNode, now));
            return chosen;
        }
    }

    /// <summary>What this node believes <paramref name="node"/> runs of <paramref name="role"/>, reservations included.</summary>
    public int Count(Address node, PlacementRole role)
    {
        lock (_gate)
        {
            int reported = _reports.TryGetValue(node, out var report) ? (role == PlacementRole.Primary ? report.Primaries : report.Secondaries) : 0;
            return reported + _reserved.Count(r => r.Node == node && r.Role == role);
        }
    }

    /// <summary>How many secondaries with their primary on <paramref name="primaryNode"/> this node believes <paramref name="node"/> holds.</summary>
    public int Paired(Address node, Address primaryNode)
    {
        lock (_gate)
        {
            int reported = _reports.TryGetValue(node, out var report) ? Paired(report, primaryNode) : 0;
            return reported + _reserved.Count(r => r.Node == node && r.Role == PlacementRole.Secondary && r.PrimaryNode == primaryNode);
        }
    }

    /// <summary>FNV-1a of "vm@node": the same on every node (string.GetHashCode is not).</summary>
    private static uint TieBreak(string vm, Address node)
    {
        uint hash = 2166136261;
        foreach (byte b in Encoding.UTF8.GetBytes($"{vm}@{NodePicker.Describe(node)}")) hash = (hash ^ b) * 16777619;
        return hash;
    }

    private sealed class NodeLoadProvider : ExtensionIdProvider<NodeLoad>
    {
        public override NodeLoad CreateExtension(ExtendedActorSystem system) => new();
    }
}
