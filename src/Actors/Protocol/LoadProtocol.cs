using Akka.Actor;

// What each node runs, as placement sees it: counts, published by the node's executor host on change.

namespace Lockstep.Actors.Protocol;

/// <summary>
/// A node's executor host: how many primaries (running or being rebuilt) and secondaries it holds now.
/// Published on <see cref="LoadTopics.Load"/> shortly after a change, and the answer to <see cref="GetNodeLoad"/>.
/// </summary>
public sealed record NodeLoadReport(Address Node, int Primaries, int Secondaries);

/// <summary>To a node's executor host: answer with its <see cref="NodeLoadReport"/> (a node that just joined asks every host).</summary>
public sealed record GetNodeLoad;

public static class LoadTopics
{
    public const string Load = "lockstep-load";
}
