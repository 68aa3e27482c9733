using Akka.Actor;
using Lockstep.Actors.Placement;

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
/// A coordinator to the node-load actor (/user/node-load) of the node that picks for it: pick the node for the VM's
/// next primary or secondary. Only picks made in one table are counted together (its reservations cover what the
/// reports do not show yet), so coordinators on different nodes that place at the same moment do not each see the same
/// counts and herd onto one node. A secondary is picked by the node its primary runs on (after a node loss every
/// survivor places the new secondaries of its own primaries in turn); a primary by the oldest member (a create of many
/// arrives at coordinators on every node at once). Reply: <see cref="NodePicked"/>.
/// </summary>
/// <param name="PrimaryNode">For a secondary: where its primary runs (never picked).</param>
/// <param name="Exclude">Besides the primary's node: nodes that just failed a placement for this VM.</param>
public sealed record PickNode(string Vm, Guid Pick, PlacementRole Role, Address? PrimaryNode, IReadOnlyList<Address> Exclude);

/// <summary>The answer to <see cref="PickNode"/>: null when no node can take it.</summary>
public sealed record NodePicked(string Vm, Guid Pick, Address? Node);

public static class LoadTopics
{
    public const string Load = "lockstep-load";
}
