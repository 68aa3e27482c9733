using Lockstep.Engine.Cpu;

namespace Lockstep.Replication.Secondary;

/// <summary>
/// A secondary's machine replayed to the end of what the lost primary sent, ready to run live once
/// the next generation is claimed.
/// </summary>
/// <param name="NextEntryIndex">The log entry index the new primary's recording continues from.</param>
/// <param name="ReleasedSeq">The first output sequence number the old primary had not reported released.</param>
/// <param name="Unreleased">Outputs made in replay whose release cannot be proven: the new primary resends them.</param>
/// <param name="Filter">The delivery marks, so late copies of answered requests stay out after the takeover.</param>
/// <param name="SilentMs">How long the primary had been silent when the loss was noticed.</param>
/// <param name="DetectedAt">Stopwatch timestamp of the moment the loss was noticed.</param>
public sealed record Takeover(Machine Machine, long NextEntryIndex, ulong ReleasedSeq, IReadOnlyList<MachineOutput> Unreleased,
    DeliveryFilter Filter, double SilentMs, long DetectedAt);
