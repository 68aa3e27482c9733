using Lockstep.Replication.Stats;

namespace Lockstep.Actors.Protocol;

/// <summary>A live primary's counters beyond the headline ones of <see cref="VmStatus"/>, read at one moment (not a consistent set).</summary>
/// <param name="LogBytesShipped">Log bytes this primary has sent to secondaries since it went live (starts again at 0 after a failover).</param>
/// <param name="OutputsReleased">Outputs let out under the output rule (VmStatus.Outputs minus this is what is held).</param>
/// <param name="LastReprotectPauseMs">How long the VM stood still for the last secondary's snapshot; 0 before the first.</param>
/// <param name="Paused">Guest execution stopped by the operator (`vm pause`).</param>
/// <param name="PacketsDropped">Packets for the guest dropped because too many waited for it to read them (a client flood).</param>
/// <param name="HeldOutputs">Outputs the output gate holds now (the guest is paused while it holds its maximum).</param>
/// <param name="OutputsDropped">Released packets dropped on this node, not sent: more were on their way to the routing than it keeps, or
/// kept for peers without a route than it keeps (a guest flood).</param>
/// <param name="OutputHold">How long each output this primary released waited for it (from the slice that made it); starts empty after a failover.</param>
/// <param name="LastReprotectMs">How long the last secondary took to come in (connect, RAM copy, pause, first ack); 0 before the first.</param>
public sealed record VmFigures(long LogBytesShipped, ulong OutputsReleased, double LastReprotectPauseMs, bool Paused,
    long PacketsDropped = 0, int HeldOutputs = 0, long OutputsDropped = 0, LatencyCounts? OutputHold = null, double LastReprotectMs = 0)
{
    /// <summary>A durable VM's journal as its outputs see it; null for a VM that is not durable.</summary>
    public DurableJournal? Journal { get; init; }

    /// <summary>Packets for the VM that its front doors dropped because too many waited in the door or for this primary (a client flood), summed over the doors that told this primary.</summary>
    public long DoorDropped { get; init; }
}

/// <summary>Where a durable VM's journal stands: its outputs leave only once it has committed the log before them.</summary>
/// <param name="CommittedEntries">The journal holds every log entry before this one (-1: nothing confirmed yet).</param>
/// <param name="HeldOutputs">Outputs waiting now (for the journal, or the secondary's ack).</param>
/// <param name="WriteWaitingMs">How long the journal write under way has taken so far; 0 when none is.</param>
/// <param name="Problem">The journal's last failure since it last committed (outputs stay held meanwhile); null when it writes.</param>
public sealed record DurableJournal(long CommittedEntries, int HeldOutputs, double WriteWaitingMs, string? Problem)
{
    /// <summary>Log batches committed since this primary went live (each one transaction), for requests per commit.</summary>
    public long Commits { get; init; }

    /// <summary>Cuts of the log those commits carried (the primary sends the journal one per cut).</summary>
    public long Parts { get; init; }

    /// <summary>Summed over those commits: how long the oldest cut in each waited in the journal's actor until committed.</summary>
    public double WaitedMs { get; init; }

    /// <summary>Summed over those commits: the store's time, from the persist call to its confirmation.</summary>
    public double WriteMs { get; init; }
}
