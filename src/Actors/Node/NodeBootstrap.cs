using Akka.Actor.Setup;
using Akka.Configuration;
using Lockstep.Replication.Claims;
using Lockstep.Replication.Links;

namespace Lockstep.Actors.Node;

/// <summary>What a node process creates its actor system from, and what <see cref="LockstepNode.Start"/> then needs.</summary>
/// <param name="Config">node.conf from the hocon folder with the flags on top.</param>
/// <param name="Setups">The journal's connection setup and the TLS transport, as the flags ask.</param>
/// <param name="LinkTls">The identity the lockstep links use with --tls-cert; null without.</param>
public sealed record NodeBootstrap(Config Config, IReadOnlyList<Setup> Setups, ClaimStore Claims, LinkTls? LinkTls);
