using Lockstep.Replication;

namespace Lockstep.Actors.Protocol;

/// <summary>
/// What the CLI (a ClusterClient) sends to the gateway at /user/gateway on any node, and the answers.
/// Every request gets exactly one reply: the answer named here or <see cref="ControlError"/>.
/// </summary>
public interface IControlRequest
{
    string Name { get; }
}

/// <summary>Creates and starts a protected VM. Reply: <see cref="ControlOk"/>.</summary>
/// <param name="Expose">Ports every node listens on for it (UDP and TCP); null or empty: none.</param>
public sealed record CreateVm(string Name, byte[] Image, uint MemorySize, IReadOnlyList<int>? Expose = null, bool Durable = false) : IControlRequest;

/// <summary>Reply: <see cref="VmList"/>. Name is unused.</summary>
public sealed record ListVms(string Name = "") : IControlRequest;

public sealed record VmList(IReadOnlyList<string> Names);

/// <summary>Reply: <see cref="VmStatus"/>.</summary>
public sealed record GetVmStatus(string Name) : IControlRequest;

/// <summary>An entry of a VM's history: a failover (GapMs: how long the VM was without a live primary) or an operator's operation.</summary>
/// <param name="DurationMs">For an operation: from the request to its end (Protected again, say).</param>
public sealed record FailoverRecord(DateTime At, string Reason, double GapMs, string? TookOver, long Generation,
    HistoryKind Kind = HistoryKind.Failover, double DurationMs = 0);

public enum HistoryKind { Failover, Operation }

/// <summary>
/// A request its coordinator decides (the gateway sends it there, not to the primary). Reply: <see cref="ControlOk"/>
/// (also when there was nothing to do: every operation is idempotent) or <see cref="ControlError"/>.
/// </summary>
public interface ICoordinatorRequest : IControlRequest;

/// <summary>How a VM is protected, as its operator set it.</summary>
public enum ProtectionMode
{
    /// <summary>A secondary is kept (and replaced when lost).</summary>
    On,
    /// <summary>Fault tolerance turned off: the VM runs alone, by choice.</summary>
    Off,
    /// <summary>Protection suspended: no secondary for now, settings and history kept; resuming puts it back where it was.</summary>
    Suspended,
}

/// <summary>`vm protect` / `vm unprotect` / `vm suspend-protection` / `vm resume-protection`.</summary>
public sealed record SetProtection(string Name, ProtectionMode Mode) : ICoordinatorRequest;

/// <summary>`vm migrate NAME --secondary NODE`: the secondary moves to NODE ("host:port", as `vm status` names nodes).</summary>
public sealed record MigrateSecondary(string Name, string Node) : ICoordinatorRequest;

/// <summary>
/// `vm migrate NAME --primary NODE`: a planned switchover. The secondary moves to NODE first if it is elsewhere; then the
/// primary hands over cleanly and the secondary on NODE goes live as the next generation (no output resent).
/// </summary>
public sealed record MigratePrimary(string Name, string Node) : ICoordinatorRequest;

/// <summary>`vm pause`: guest execution stops (both sides stay consistent); packets arriving meanwhile queue, up to a bound.</summary>
public sealed record PauseVm(string Name) : IControlRequest;

/// <summary>`vm resume`: guest execution continues with the queued packets.</summary>
public sealed record ResumeVm(string Name) : IControlRequest;

/// <summary>
/// A VM's state as operators see it. Primary and Secondary are "host:port" of their nodes, or null.
/// </summary>
/// <param name="Figures">The live primary's further counters (dashboard, metrics); null while there is none.</param>
public sealed record VmStatus(
    string Name, VmState State, long Generation, string? Primary, string? Secondary,
    double LagMs, ulong Instructions, ulong Outputs, double LogBytesPerSecond,
    IReadOnlyList<FailoverRecord> History, string? Detail, VmFigures? Figures = null);

/// <summary>Delivers one packet from <paramref name="Peer"/> to the VM. Reply: <see cref="ControlOk"/> once accepted by the live primary.
/// Response packets to that peer then come to the sender as <see cref="VmPacket"/>.</summary>
/// <param name="Tag">Where the packet stands in its client's session, so a late copy of an answered request can be dropped; null: always delivered.</param>
/// <param name="ArrivedAt">A front-door datagram's: UTC ticks when the first node's kernel took it in, so a late copy can be dropped
/// (<see cref="Lockstep.Replication.FrontDoor.LateDatagrams"/>); 0: unknown.</param>
public sealed record SendPacket(string Name, uint Peer, byte[] Data, DeliveryTag? Tag = null, long ArrivedAt = 0) : IControlRequest;

/// <summary>
/// A request's place in its client session: <paramref name="Ordinal"/> numbers the session's requests
/// (copies of one request share it), and every request below <paramref name="AnsweredBelow"/> has been answered.
/// </summary>
public sealed record DeliveryTag(long Session, long Ordinal, long AnsweredBelow);

/// <summary>A packet the VM sent to a peer, released under the output rule. Seq is the VM's output sequence number.</summary>
public sealed record VmPacket(string Name, uint Peer, ulong Seq, byte[] Data);

/// <summary>
/// Released packets to <paramref name="Peer"/> were dropped in the primary's node on their way to its client (the node
/// fell behind the guest by more than it keeps): a client waiting for an answer would wait forever, so its client is told.
/// </summary>
public sealed record OutputsLost(string Name, uint Peer, long Count);

/// <summary>
/// From a front door to the VM's primary: packets for the VM that the door on <paramref name="Node"/>, port <paramref name="Port"/>,
/// dropped because too many waited (a client flood), <paramref name="Total"/> since that door opened. Sent when it grew, at most once a second.
/// </summary>
public sealed record DoorDrops(string Name, string Node, int Port, long Total);

/// <summary>Test failover: the primary is stopped as if its node had died. Reply: <see cref="ControlOk"/>.</summary>
public sealed record TestFailover(string Name) : IControlRequest;

/// <summary>Test restart of the secondary. Reply: <see cref="ControlOk"/>.</summary>
public sealed record RestartSecondary(string Name) : IControlRequest;

/// <summary>Stops the VM and forgets it. Reply: <see cref="ControlOk"/>.</summary>
public sealed record StopVm(string Name) : IControlRequest;

public sealed record ControlOk(string Message);

/// <summary>A refusal; <paramref name="Kind"/> is what a client decides on, the message is for people.</summary>
public sealed record ControlError(string Message, ControlErrorKind Kind);

public enum ControlErrorKind
{
    /// <summary>The request itself is wrong (an invalid name, image or memory size): sending it again will not help.</summary>
    Invalid,
    UnknownVm,
    AlreadyExists,
    Stopped,
    /// <summary>Nothing can answer right now (no live primary during a failover): try again.</summary>
    Unavailable,
    /// <summary>The request does not apply in the VM's present state (a replica check with no secondary, an operation in progress).</summary>
    NotNow,
    /// <summary>No such live cluster node.</summary>
    UnknownNode,
    /// <summary>The VM cannot take more now (packets while paused beyond the queue's bound).</summary>
    Busy,
}

/// <summary>Compares the state hashes of primary and secondary at one instruction count. Reply: <see cref="ReplicaCheck"/>.</summary>
public sealed record CheckReplicas(string Name) : IControlRequest;

public sealed record ReplicaCheck(string Name, ulong Position, ulong PrimaryHash, ulong SecondaryHash)
{
    public bool Match => PrimaryHash == SecondaryHash;
}
