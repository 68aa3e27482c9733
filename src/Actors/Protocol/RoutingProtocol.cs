using Akka.Actor;

// How gateways and front doors learn where a VM's live primary runs, without asking its coordinator
// for every packet: a primary announces itself when it goes live (start, takeover, new generation),
// and whoever has no route asks once.

namespace Lockstep.Actors.Protocol;

/// <summary>
/// Published on the primaries topic by a primary when it goes live or claims a new generation (never
/// periodically), and sent to whoever asks with <see cref="LocatePrimary"/>.
/// </summary>
public sealed record PrimaryAnnounce(string Name, long Generation, IActorRef Executor, string Node);

/// <summary>Published when a VM is stopped for good (and the answer of a stopped VM's coordinator to <see cref="LocatePrimary"/>).</summary>
public sealed record VmRemoved(string Name);

/// <summary>
/// A gateway or front door without a route for the VM asks: the gateway answers from its table when it
/// can, else the VM's coordinator (through sharding) passes it to the live primary, which answers the
/// asker with its <see cref="PrimaryAnnounce"/>. No answer while there is no live primary: the next
/// primary's announcement comes by itself.
/// </summary>
public sealed record LocatePrimary(string Name);

public static class Topics
{
    public const string Primaries = "lockstep-primaries";
}
