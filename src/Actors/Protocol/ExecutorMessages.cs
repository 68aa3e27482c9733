using Akka.Actor;

namespace Lockstep.Actors.Protocol;

/// <summary>To a node's ExecutorHost: run this VM's primary here, booting the image (generation claimed first).</summary>
public sealed record StartPrimary(string Name, byte[] Image, uint MemorySize, long Generation, IReadOnlyList<FailoverRecord> History);

/// <summary>To a node's ExecutorHost: run a secondary here for the primary executor <paramref name="Primary"/>.</summary>
public sealed record StartSecondary(string Name, uint MemorySize, long Generation, IActorRef Primary, IReadOnlyList<FailoverRecord> History);

/// <summary>Secondary to primary executor: connect your log channel to me.</summary>
public sealed record SecondaryListening(string Name, long Generation, string Host, int Port, string Node, IActorRef Secondary);

/// <summary>Secondary to primary executor: I could not start.</summary>
public sealed record SecondaryFailed(string Name, string Reason);

/// <summary>Published on the primaries topic by a live primary (on start and periodically) so every gateway can route to it.</summary>
public sealed record PrimaryAnnounce(string Name, long Generation, IActorRef Executor, string Node);

/// <summary>Published when a VM is stopped for good.</summary>
public sealed record VmRemoved(string Name);

public static class Topics
{
    public const string Primaries = "lockstep-primaries";
}
