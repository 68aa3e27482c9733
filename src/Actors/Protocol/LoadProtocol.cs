using Akka.Actor;

// What each node runs, as placement sees it: counts, published by the node's executor host on change.

namespace Lockstep.Actors.Protocol;

/// <summary>
/// A node's executor host: how many primaries (running or being rebuilt) and secondaries it holds now, and for
/// the secondaries, on which nodes their primaries run (a node's takeovers land where its primaries' secondaries
/// are, so those should spread too). Published on <see cref="LoadTopics.Load"/> shortly after a change, and the
/// answer to <see cref="GetNodeLoad"/>.
/// </summary>
public sealed record NodeLoadReport(Address Node, int Primaries, int Secondaries, IReadOnlyList<PairCount> SecondariesByPrimaryNode);

/// <summary>How many of a node's secondaries have their primary on <paramref name="PrimaryNode"/>.</summary>
public sealed record PairCount(Address PrimaryNode, int Count);

/// <summary>To a node's executor host: answer with its <see cref="NodeLoadReport"/> (a node that just joined asks every host).</summary>
public sealed record GetNodeLoad;

/// <summary>
/// A coordinator to the node-load actor (/user/node-load) of the node its primary runs on: pick the node for the next
/// secondary. Every secondary of the primaries on one node is picked by that node, one after another with its own
/// reservations, so coordinators on different nodes that place at the same moment (after a node loss) do not each
/// see the same counts and herd onto the same survivor. Reply: <see cref="SecondaryNodePicked"/>.
/// </summary>
/// <param name="Exclude">Besides the primary's node: nodes that just failed a placement for this VM.</param>
public sealed record PickSecondaryNode(string Vm, Guid Pick, Address PrimaryNode, IReadOnlyList<Address> Exclude);

/// <summary>The answer to <see cref="PickSecondaryNode"/>: null when no other node can take it.</summary>
public sealed record SecondaryNodePicked(string Vm, Guid Pick, Address? Node);

public static class LoadTopics
{
    public const string Load = "lockstep-load";
}
