using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;
using Lockstep.Replication.Scheduling;

namespace Lockstep.Replication.Tests;

/// <summary>
/// What the primary loop's tests share: VM threads of their own (two, as on this machine's nodes),
/// a primary running the kv guest, and primary facts that do nothing unless a test overrides them.
/// </summary>
public abstract class PrimaryTestBase : IPrimaryFacts, IDisposable
{
    protected VmScheduler Scheduler { get; } = new(2);

    /// <summary>A primary running the kv guest, reporting to this test; not started yet.</summary>
    protected PrimaryLoop KvPrimary(string name, LockstepSettings settings)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest("kv")));
        return new PrimaryLoop(name, machine, 0, 0, settings, this, Scheduler);
    }

    public virtual void Released(MachineOutput output) { }
    public virtual void SecondaryInSync() { }
    public virtual void SecondaryLost(CloseReason reason, string detail) { }
    public virtual void AttachFailed(string detail) { }
    public virtual void Ended(VmState state, string detail) { }
    public virtual void LogCut(LogSegment segment, byte[] encoded) { }
    public virtual void Checkpoint(long entryIndex, ulong position, byte[] snapshot) { }
    public virtual void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }

    public void Dispose()
    {
        Scheduler.Dispose();
        GC.SuppressFinalize(this);
    }
}
