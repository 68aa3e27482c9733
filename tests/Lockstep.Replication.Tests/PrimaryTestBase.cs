using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// What the primary loop's tests share: a primary running the kv guest on a replication engine of its
/// own (VM threads and node links, as a node has), and primary facts that do nothing unless a test overrides them.
/// </summary>
public abstract class PrimaryTestBase : IPrimaryFacts, IDisposable
{
    private readonly List<ReplicationEngine> _engines = [];

    /// <summary>A primary running the kv guest, reporting to this test; not started yet.</summary>
    protected PrimaryLoop KvPrimary(string name, LockstepSettings settings)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest("kv")));
        return new PrimaryLoop(name, machine, 0, 0, settings, Engine(settings), this);
    }

    /// <summary>A replication engine on 127.0.0.1 (two VM threads, as on this machine's nodes), closed when the test ends.</summary>
    protected ReplicationEngine Engine(LockstepSettings settings)
    {
        var engine = new ReplicationEngine("127.0.0.1", 0, settings with { VmThreads = 2 });
        lock (_engines) _engines.Add(engine);
        return engine;
    }

    /// <summary>The node links of a fresh engine (<see cref="Engine"/>).</summary>
    protected NodeLinks Links(LockstepSettings settings) => Engine(settings).Links;

    public virtual void Dispose()
    {
        lock (_engines) foreach (var engine in _engines) engine.Dispose();
        GC.SuppressFinalize(this);
    }

    public virtual void Released(MachineOutput output) { }
    public virtual void SecondaryInSync() { }
    public virtual void SecondaryLost(CloseReason reason, string detail) { }
    public virtual void AttachFailed(string detail) { }
    public virtual void Ended(VmState state, string detail) { }
    public virtual void LogCut(LogSegment segment, byte[] encoded) { }
    public virtual void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) { }
    public virtual void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
    public virtual void HandedOver(ulong position, double pauseMs) { }
    public virtual void HandoverFailed(string detail) { }
}
