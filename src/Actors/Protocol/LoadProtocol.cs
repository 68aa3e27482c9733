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

public static class LoadTopics
{
    public const string Load = "lockstep-load";
}
