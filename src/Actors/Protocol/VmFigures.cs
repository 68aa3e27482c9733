using Lockstep.Replication.Stats;

namespace Lockstep.Actors.Protocol;

/// <summary>A live primary's counters beyond the headline ones of <see cref="VmStatus"/>, read at one moment (not a consistent set).</summary>
/// <param name="LogBytesShipped">Log bytes this primary has sent to secondaries since it went live (starts again at 0 after a failover).</param>
/// <param name="OutputsReleased">Outputs let out under the output rule (VmStatus.Outputs minus this is what is held).</param>
/// <param name="LastReprotectPauseMs">How long the VM stood still for the last secondary's snapshot; 0 before the first.</param>
/// <param name="Paused">Guest execution stopped by the operator (`vm pause`).</param>
/// <param name="OutputHold">How long each output this primary released waited for it (from the slice that made it); starts empty after a failover.</param>
/// <param name="LastReprotectMs">How long the last secondary took to come in (connect, RAM copy, pause, first ack); 0 before the first.</param>
public sealed record VmFigures(long LogBytesShipped, ulong OutputsReleased, double LastReprotectPauseMs, bool Paused,
    LatencyCounts? OutputHold = null, double LastReprotectMs = 0);
