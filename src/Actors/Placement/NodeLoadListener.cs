using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Placement;

/// <summary>
/// /user/node-load on every node: keeps this node's <see cref="NodeLoad"/> current from the executor hosts'
/// reports (published on change), asks the host of every member that comes up (it may have published before
/// this node subscribed), and forgets a node that is removed. It also picks nodes for coordinators wherever they run
/// (<see cref="PickNode"/>): for the secondaries of the primaries on this node, and, on the oldest member, for primaries.
/// </summary>
public sealed class NodeLoadListener : ReceiveActor
{
    public NodeLoadListener()
    {
        var load = NodeLoad.Get(Context.System);
        Receive<NodeLoadReport>(load.Record);
        Receive<ClusterEvent.CurrentClusterState>(state =>
        {
            foreach (var member in state.Members.Where(m => m.Status == MemberStatus.Up)) Ask(member.Address);
        });
        Receive<ClusterEvent.MemberUp>(up => Ask(up.Member.Address));
        Receive<ClusterEvent.MemberRemoved>(removed => load.Forget(removed.Member.Address));
        Receive<PickNode>(pick => Sender.Tell(new NodePicked(pick.Vm, pick.Pick, load.Pick(Cluster.Get(Context.System),
            pick.PrimaryNode is { } primaryNode ? pick.Exclude.Append(primaryNode) : pick.Exclude, pick.Role, pick.Vm, pick.PrimaryNode))));
        Receive<SubscribeAck>(_ => { });
    }

    public static Props Props() => Akka.Actor.Props.Create(() => new NodeLoadListener());

    protected override void PreStart()
    {
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(LoadTopics.Load, Self));
        Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.MemberUp), typeof(ClusterEvent.MemberRemoved));
    }

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);

    /// <summary>Where the node-load actor of <paramref name="node"/> is.</summary>
    public static ActorSelection At(ActorSystem system, Address node) => system.ActorSelection(new RootActorPath(node) / "user" / "node-load");

    private void Ask(Address node) => NodePicker.ExecutorsAt(Context.System, node).Tell(new GetNodeLoad());
}
