using Akka.Actor;
using Akka.Cluster;

namespace Lockstep.Dashboard;

/// <summary>The members this node's cluster extension knows (its gossip view, read without asking any actor).</summary>
public static class ClusterMembers
{
    public static string NodeName(Address address) => $"{address.Host}:{address.Port}";

    public static IReadOnlyList<MemberView> Read(ActorSystem system, IReadOnlyList<VmEntry> vms)
    {
        var cluster = Cluster.Get(system);
        var state = cluster.State;
        var unreachable = state.Unreachable.Select(m => m.Address).ToHashSet();
        var statuses = vms.Select(v => v.Status).OfType<Lockstep.Actors.Protocol.VmStatus>().ToList();
        return state.Members
            .Select(m =>
            {
                string node = NodeName(m.Address);
                return new MemberView(node, m.Status.ToString(), m.Roles.Order(StringComparer.Ordinal).ToList(),
                    m.Address.Equals(state.Leader), !unreachable.Contains(m.Address), m.Address.Equals(cluster.SelfAddress),
                    statuses.Count(s => s.Primary == node), statuses.Count(s => s.Secondary == node));
            })
            .OrderBy(m => m.Node, StringComparer.Ordinal)
            .ToList();
    }
}
