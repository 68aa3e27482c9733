// Which VMs are exposed on which ports, and how every node's front door learns it and reports back.

namespace Lockstep.Actors.Protocol;

/// <summary>
/// Exposes a VM on <paramref name="Port"/> of every node (UDP and TCP). Reply: <see cref="ControlOk"/>. Through the VM
/// directory, which refuses a port another VM is exposed on, then to the VM's coordinator.
/// </summary>
public sealed record ExposeVm(string Name, int Port) : IControlRequest;

/// <summary>
/// Front door to the primary: the peer's TCP connection closed, so its route and the answers kept for it can go
/// (otherwise every connection ever made would leave its entry, and up to a queue of answers, behind).
/// </summary>
public sealed record PeerClosed(string Name, uint Peer);

/// <summary>Reply: <see cref="VmExposure"/>.</summary>
public sealed record GetExposure(string Name) : ICoordinatorRequest;

/// <summary>The ports a VM is exposed on and what each node's front door last reported about them.</summary>
public sealed record VmExposure(string Name, IReadOnlyList<int> Ports, IReadOnlyList<ListenerState> Listeners);

/// <summary>
/// One node's listener for one port: open (UDP and TCP), or the problem that keeps it closed (the node
/// tries again every few seconds). Node is "host:port" of the node's cluster address. <paramref name="RefusedConnections"/>:
/// TCP connections refused at this listener because its limit were open (`lockstep.front-door.max-connections`).
/// </summary>
public sealed record ListenerState(string Node, string Host, int Port, bool Open, string? Problem, long RefusedConnections = 0);

/// <summary>
/// Published by a VM's coordinator on <see cref="ExposureTopics.Exposure"/> when it starts, on every change,
/// and every few seconds; an empty list closes the VM's listeners.
/// </summary>
public sealed record ExposureAnnounce(string Name, IReadOnlyList<int> Ports);

/// <summary>A node's front door tells the VM's coordinator the state of its listeners for that VM.</summary>
public sealed record ListenerReport(string Name, string Node, IReadOnlyList<ListenerState> Listeners);

public static class ExposureTopics
{
    public const string Exposure = "lockstep-exposure";
}
