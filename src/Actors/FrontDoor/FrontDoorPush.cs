using Akka.Actor;

namespace Lockstep.Actors.FrontDoor;

/// <summary>
/// Straight to the front door of every node (<c>/user/front-door</c>), not through the pub-sub mediator:
/// a takeover's announcement is what front doors resend their in-flight packets on, so it must not wait
/// for the mediator's registry, a membership change or a thread of a busy mediator.
/// </summary>
public static class FrontDoorPush
{
    /// <summary>The name of each node's front door actor under /user.</summary>
    public const string ActorName = "front-door";

    /// <summary>Tells every member's front door, reachable or not (a message to a dead node is only dropped).</summary>
    public static void TellEveryNode(ActorSystem system, object message, IActorRef sender)
    {
        foreach (var member in Akka.Cluster.Cluster.Get(system).State.Members)
            system.ActorSelection(new RootActorPath(member.Address) / "user" / ActorName).Tell(message, sender);
    }
}
