using Lockstep.Replication.Stats;

namespace Lockstep.Replication.Primary;

/// <summary>A primary loop's figures at one moment, for status and benchmarks.</summary>
/// <param name="LastReprotectPauseMs">How long the VM stood still for the last secondary's snapshot.</param>
/// <param name="LastPrecopyMs">How long the last secondary's RAM took to go over while the VM ran on (before that pause).</param>
/// <param name="OutputHold">How long each output released so far waited in the gate.</param>
/// <param name="LastReprotectMs">How long the last secondary took to come in: from the attach's start (connect) to its first ack covering its snapshot; 0 before the first.</param>
/// <param name="LastSnapshotAckMs">How long the last secondary took from the attach's pause to its ack of the snapshot: the outputs of that spell wait for it.</param>
/// <param name="OutputsReleased">Outputs let out under the output rule so far; Outputs minus this is what the gate holds.</param>
/// <param name="PacketsDropped">Packets for the guest refused because too many waited for it to read them.</param>
/// <param name="HeldOutputs">Outputs the gate holds now.</param>
/// <param name="OutputPauses">Steps the guest stood still because the gate held too much to take more.</param>
public sealed record PrimaryStats(
    ulong Instructions, ulong Outputs, double LagMs, double LogBytesPerSecond, double LastReprotectPauseMs,
    long LogBytesShipped, double LastPrecopyMs, ulong OutputsReleased = 0, long PacketsDropped = 0, int HeldOutputs = 0, long OutputPauses = 0,
    LatencyCounts? OutputHold = null, double LastReprotectMs = 0, double LastSnapshotAckMs = 0);
