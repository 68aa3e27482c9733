using Akka.Actor;
using Lockstep.Engine.Cpu;
using Lockstep.Replication;

namespace Lockstep.Actors.Protocol;

// Between a VM's coordinator (ProtectedVm, sharded) and the executor hosts and executors it places.
// Executors reach the coordinator through the shard region (a ShardingEnvelope by VM name), so the
// messages find it wherever sharding has it now.

/// <summary>Coordinator to a node's ExecutorHost: run this VM's primary here as <paramref name="Generation"/> (rebuilt from the journal, or booted).</summary>
/// <param name="Coordinator">The coordinator itself, to report to directly (see <see cref="PrimaryLaunch.Coordinator"/>).</param>
public sealed record StartPrimary(LaunchSpec Vm, long Generation, IReadOnlyList<FailoverRecord> History, ProtectionMode Protection = ProtectionMode.On,
    IActorRef? Coordinator = null);

/// <summary>
/// To a node's ExecutorHost, from the rebuilder or from a secondary that won its takeover: run this
/// machine live as the VM's primary. <paramref name="Claimed"/>: the generation is held already.
/// </summary>
/// <param name="FirstEntryIndex">Where the new primary's log continues.</param>
/// <param name="ReleasedSeq">The first output sequence number not known to be released.</param>
/// <param name="Resend">Outputs whose release cannot be proven: sent again (receivers drop repeats by seq).</param>
/// <param name="Filter">Delivery marks a promoted secondary took over (null: a fresh start).</param>
/// <param name="LostNode">The node of a primary that was just lost: not to host the next secondary.</param>
public sealed record PrimaryLaunch(LaunchSpec Vm, Machine Machine, long Generation, bool Claimed, long FirstEntryIndex,
    ulong ReleasedSeq, IReadOnlyList<MachineOutput> Resend, DeliveryFilter? Filter, IReadOnlyList<FailoverRecord> History, Address? LostNode)
{
    /// <summary>The operator's setting when it was launched; the coordinator sends changes.</summary>
    public ProtectionMode Protection { get; init; } = ProtectionMode.On;

    /// <summary>
    /// The coordinator, when known: reports go to it directly. Through the shard region they can wait for
    /// seconds after a node died: a region that never looked up the VM's shard asks the shard coordinator
    /// singleton, which may have been on that node (seen in KillPrimaryProcess: a new secondary's report
    /// never arrived within 20 s). Null: through the region.
    /// </summary>
    public IActorRef? Coordinator { get; init; }
}

/// <summary>Coordinator to a node's ExecutorHost: run a secondary here for the primary of <paramref name="Generation"/>.</summary>
/// <param name="Attempt">Names this placement, so that a secondary started for an earlier one is told apart.</param>
/// <param name="PrimaryNode">Where the primary runs (not to host the secondary that replaces it after a takeover).</param>
/// <param name="ReportTo">Who placed it, when not the coordinator: a primary placing its own secondary while its coordinator is silent.</param>
/// <param name="Coordinator">The coordinator, when known: reported to directly, not through the shard region (see <see cref="PrimaryLaunch.Coordinator"/>).</param>
public sealed record StartSecondary(LaunchSpec Vm, long Generation, Guid Attempt, Address PrimaryNode, IReadOnlyList<FailoverRecord> History,
    IActorRef? ReportTo = null, IActorRef? Coordinator = null);

/// <summary>Coordinator to the primary executor: a secondary is being started for you on <paramref name="Node"/> (so the primary need not place one itself).</summary>
public sealed record SecondaryPlaced(string Name, long Generation, string Node);

/// <summary>Secondary executor to the coordinator: listening, with this attach's one-time token.</summary>
public sealed record SecondaryUp(string Name, long Generation, Guid Attempt, string Host, int Port, byte[] Token, string Node, IActorRef Secondary);

/// <summary>Secondary executor to the coordinator: it could not start (no port, say).</summary>
public sealed record SecondaryFailed(string Name, Guid Attempt, string Reason);

/// <summary>Coordinator to the primary executor: connect your log channel to this secondary.</summary>
public sealed record AttachSecondary(string Name, long Generation, string Host, int Port, byte[] Token, string Node, IActorRef Secondary);

/// <summary>What a primary executor is doing, as it tells its coordinator.</summary>
public enum PrimaryPhase
{
    /// <summary>Live and holding its generation, without a secondary: one is wanted.</summary>
    Alone,
    /// <summary>Bringing the secondary it was given in.</summary>
    Attaching,
    /// <summary>Its secondary holds the state.</summary>
    Protected,
    /// <summary>Claiming the next generation after losing its secondary; the next report follows the claim.</summary>
    Claiming,
    /// <summary>The guest ended: no secondary is wanted.</summary>
    Ended,
}

/// <summary>
/// Primary executor to the coordinator: on every change of phase, and when asked (<see cref="ReportPlacement"/>).
/// </summary>
/// <param name="Secondary">The secondary attached or being attached, if any.</param>
/// <param name="FailedSecondary">With <see cref="PrimaryPhase.Alone"/>: the secondary that just failed to come in (or null).</param>
/// <param name="AvoidNode">A node not to place the next secondary on (the failed secondary's, or a just lost primary's).</param>
/// <param name="History">The VM's failovers so far (a secondary placed now carries them on if it takes over).</param>
public sealed record PrimaryReport(string Name, long Generation, PrimaryPhase Phase, string Node, IActorRef Primary,
    IActorRef? Secondary, IActorRef? FailedSecondary, Address? AvoidNode, IReadOnlyList<FailoverRecord> History);

/// <summary>Coordinator to a primary executor it has just found: answer with a <see cref="PrimaryReport"/>.</summary>
public sealed record ReportPlacement(string Name);

/// <summary>Coordinator to every ExecutorHost, when it starts: which executors of this VM run on your node?</summary>
public sealed record FindExecutors(string Name);

/// <summary>An ExecutorHost's answer: the VM's primaries and secondaries on that node.</summary>
public sealed record ExecutorsFound(string Name, IReadOnlyList<IActorRef> Primaries, IReadOnlyList<IActorRef> Secondaries);

/// <summary>Coordinator to the primary executor: the operator's protection setting (sent on a change, and to a primary it adopts).</summary>
public sealed record ProtectionChanged(string Name, ProtectionMode Mode, string Reason);

/// <summary>Coordinator to the primary executor: let the secondary go in good order; the next is placed where the coordinator chose.</summary>
public sealed record ReplaceSecondary(string Name, string Reason);

/// <summary>Coordinator to a Protected primary executor: hand over to the secondary (a planned switchover), then stop.</summary>
public sealed record HandOver(string Name, string Reason, DateTime Since);

/// <summary>Primary executor to its secondary executor, as it starts a handover: what to record once live, and the history so far.</summary>
public sealed record HandoverComing(string Name, string Reason, DateTime Since, IReadOnlyList<FailoverRecord> History);

/// <summary>The secondary executor's answer to <see cref="HandoverComing"/>: it knows, the primary may hand over.</summary>
public sealed record HandoverExpected(string Name);

/// <summary>
/// An old primary to the executor host of the node it handed over to: packets that came to it after it stopped its guest,
/// for the new primary there (sent on with the client as sender).
/// </summary>
public sealed record ForwardToPrimary(string Name, SendPacket Packet, IActorRef Client);

/// <summary>Coordinator to an executor: stop (a superseded secondary, or the VM was stopped). No takeover follows.</summary>
public sealed record RetireExecutor(string Name);
