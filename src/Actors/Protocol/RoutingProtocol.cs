using Akka.Actor;

// How gateways learn where a VM's live primary runs, without asking its coordinator.

namespace Lockstep.Actors.Protocol;

/// <summary>Published on the primaries topic by a live primary (on start and periodically) so every gateway can route to it.</summary>
public sealed record PrimaryAnnounce(string Name, long Generation, IActorRef Executor, string Node);

/// <summary>Published when a VM is stopped for good.</summary>
public sealed record VmRemoved(string Name);

public static class Topics
{
    public const string Primaries = "lockstep-primaries";
}
