using Akka.Actor;
using Akka.Cluster;

namespace Lockstep.Actors.Placement;

/// <summary>Names cluster nodes and finds them; which node gets an executor is <see cref="NodeLoad"/>'s choice.</summary>
public static class NodePicker
{
    /// <summary>The nodes an executor may be placed on: Up, reachable, and not among the excluded.</summary>
    public static IReadOnlyList<Address> Candidates(Cluster cluster, IEnumerable<Address> exclude)
    {
        var excluded = exclude.ToHashSet();
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToHashSet();
        return cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && !excluded.Contains(m.Address) && !unreachable.Contains(m.Address))
            .Select(m => m.Address)
            .OrderBy(a => a.Port).ThenBy(a => a.Host)
            .ToList();
    }

    /// <summary>
    /// The oldest Up, reachable member (every node agrees on it while membership is settled), or this node: where
    /// primaries are picked.
    /// </summary>
    public static Address Oldest(Cluster cluster)
    {
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToHashSet();
        return cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && !unreachable.Contains(m.Address))
            .Aggregate((Member?)null, (oldest, m) => oldest is null || m.IsOlderThan(oldest) ? m : oldest)?.Address ?? cluster.SelfAddress;
    }

    /// <summary>The executor host of a node (one per node, at /user/executors).</summary>
    public static ActorSelection ExecutorsAt(ActorSystem system, Address node) =>
        system.ActorSelection(new RootActorPath(node) / "user" / "executors");

    /// <summary>
    /// Who holds a claim: "host:port#uid/actor". The uid tells a restarted node on the same address
    /// from the incarnation that made the claim.
    /// </summary>
    public static string ClaimOwner(Cluster cluster, string actorName) =>
        $"{Describe(cluster.SelfAddress)}#{cluster.SelfUniqueAddress.Uid}/{actorName}";

    /// <summary>True when the claim owner's node incarnation is still a member that may be running it.</summary>
    public static bool IsMember(Cluster cluster, string owner)
    {
        string node = owner.Split('/')[0];
        return cluster.State.Members.Any(m =>
            $"{Describe(m.Address)}#{m.UniqueAddress.Uid}" == node &&
            m.Status is MemberStatus.Up or MemberStatus.Joining or MemberStatus.WeaklyUp or MemberStatus.Leaving);
    }

    /// <summary>The Up, reachable member that operators call <paramref name="hostPort"/> ("host:port"), or null.</summary>
    public static Address? Find(Cluster cluster, string hostPort)
    {
        var unreachable = cluster.State.Unreachable.Select(m => m.Address).ToHashSet();
        return cluster.State.Members
            .Where(m => m.Status == MemberStatus.Up && !unreachable.Contains(m.Address) && Describe(m.Address) == hostPort)
            .Select(m => m.Address)
            .FirstOrDefault();
    }

    /// <summary>"host:port" as operators see a node.</summary>
    public static string Describe(Address address) => $"{address.Host}:{address.Port}";
}
