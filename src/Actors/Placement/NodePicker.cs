using Akka.Actor;
using Akka.Cluster;

namespace Lockstep.Actors.Placement;

/// <summary>Chooses cluster nodes for executors: Up, reachable, and not among the excluded.</summary>
public static class NodePicker
{
    public static Address? Pick(Cluster cluster, IEnumerable<Address> exclude, int seed)
    {
        var excluded = exclude.ToHashSet();
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToHashSet();
        var candidates = cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && !excluded.Contains(m.Address) && !unreachable.Contains(m.Address))
            .Select(m => m.Address)
            .OrderBy(a => a.Port).ThenBy(a => a.Host)
            .ToList();
        return candidates.Count == 0 ? null : candidates[(seed & int.MaxValue) % candidates.Count];
    }

    /// <summary>The executor host of a node (one per node, at /user/executors).</summary>
    public static ActorSelection ExecutorsAt(ActorSystem system, Address node) =>
        system.ActorSelection(new RootActorPath(node) / "user" / "executors");

    /// <summary>"host:port" as operators see a node.</summary>
    public static string Describe(Address address) => $"{address.Host}:{address.Port}";
}
