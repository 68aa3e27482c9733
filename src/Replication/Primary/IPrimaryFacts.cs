using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Primary;

/// <summary>
/// What a <see cref="PrimaryLoop"/> reports. Facts only: what to do about them (claim, re-protect,
/// stop) is decided by whoever implements this, the primary executor actor in a node.
/// Called on the loop's threads; implementations hand the fact on and return.
/// </summary>
public interface IPrimaryFacts
{
    /// <summary>An output passed the gate, in output order.</summary>
    void Released(MachineOutput output);

    /// <summary>The secondary acknowledged the snapshot it started from: it holds the state.</summary>
    void SecondaryInSync();

    /// <summary>The channel to an attached secondary ended. From here outputs are held until <see cref="PrimaryLoop.GoAlone"/>.</summary>
    void SecondaryLost(CloseReason reason, string detail);

    /// <summary>
    /// The secondary was told to take over at <paramref name="position"/> (see <see cref="PrimaryLoop.Handover"/>); the guest had
    /// been stopped for <paramref name="pauseMs"/>. The channel's end says whether it did.
    /// </summary>
    void HandedOver(ulong position, double pauseMs);

    /// <summary>A handover could not be done (no secondary in sync, or its acks did not come in time); the guest runs on.</summary>
    void HandoverFailed(string detail);

    /// <summary>A secondary could not be brought in (connect failed, lost while its RAM was copied); the VM is still alone.</summary>
    void AttachFailed(string detail);

    /// <summary>The guest halted or faulted, or the loop itself failed.</summary>
    void Ended(VmState state, string detail);

    /// <summary>A non-empty log segment was cut (for the journal), in log order.</summary>
    void LogCut(LogSegment segment, byte[] encoded);

    /// <summary>
    /// A journal checkpoint taken at a cut (<see cref="Lockstep.Engine.Snapshots.CheckpointFormat"/>): the log from
    /// <paramref name="entryIndex"/> on continues it. A full one (<paramref name="full"/>) starts a chain; the others
    /// hold the pages written since the checkpoint before and apply on top of it.
    /// </summary>
    void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full);

    /// <summary>The secondary's state hash at <paramref name="position"/>, next to the primary's (0: it could not stop there).</summary>
    void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash);
}
