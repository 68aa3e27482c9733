using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// What the primary loop's tests share: a primary running the kv guest, and primary facts that do
/// nothing unless a test overrides them.
/// </summary>
public abstract class PrimaryTestBase : IPrimaryFacts
{
    /// <summary>A primary running the kv guest, reporting to this test; not started yet.</summary>
    protected PrimaryLoop KvPrimary(string name, LockstepSettings settings)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest("kv")));
        return new PrimaryLoop(name, machine, 0, 0, settings, this);
    }

    public virtual void Released(MachineOutput output) { }
    public virtual void SecondaryInSync() { }
    public virtual void SecondaryLost(CloseReason reason, string detail) { }
    public virtual void AttachFailed(string detail) { }
    public virtual void Ended(VmState state, string detail) { }
    public virtual void LogCut(LogSegment segment, byte[] encoded) { }
    public virtual void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) { }
    public virtual void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
}
