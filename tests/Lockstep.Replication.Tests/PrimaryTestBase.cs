using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// What the primary loop's tests share: a primary running the kv guest on node links of its own, and
/// primary facts that do nothing unless a test overrides them.
/// </summary>
public abstract class PrimaryTestBase : IPrimaryFacts, IDisposable
{
    private readonly List<NodeLinks> _links = [];

    /// <summary>A primary running the kv guest, reporting to this test; not started yet.</summary>
    protected PrimaryLoop KvPrimary(string name, LockstepSettings settings)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest("kv")));
        return new PrimaryLoop(name, machine, 0, 0, settings, Links(settings), this);
    }

    /// <summary>Node links on 127.0.0.1, closed when the test ends.</summary>
    protected NodeLinks Links(LockstepSettings settings)
    {
        var links = new NodeLinks("127.0.0.1", 0, settings);
        lock (_links) _links.Add(links);
        return links;
    }

    public virtual void Dispose()
    {
        lock (_links) foreach (var links in _links) links.Dispose();
    }

    public virtual void Released(MachineOutput output) { }
    public virtual void SecondaryInSync() { }
    public virtual void SecondaryLost(CloseReason reason, string detail) { }
    public virtual void AttachFailed(string detail) { }
    public virtual void Ended(VmState state, string detail) { }
    public virtual void LogCut(LogSegment segment, byte[] encoded) { }
    public virtual void Checkpoint(long entryIndex, ulong position, byte[] snapshot) { }
    public virtual void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
}
