using Lockstep.Replication.Links;
using Lockstep.Replication.Scheduling;
using Lockstep.Replication.Stats;

namespace Lockstep.Replication;

/// <summary>
/// A node's one replication engine, shared by every VM side the node runs: the VM threads that run
/// the primaries and secondaries in steps, and the lockstep links (one connection per pair of nodes)
/// their channels travel on.
/// </summary>
public sealed class ReplicationEngine : IDisposable
{
    /// <param name="host">The address the node's link listener binds (its cluster host).</param>
    /// <param name="linkPort">The port of that listener; 0 for any free one.</param>
    public ReplicationEngine(string host, int linkPort, LockstepSettings settings, string name = "vm")
    {
        Scheduler = new VmScheduler(settings.VmThreads, name);
        try
        {
            Links = new NodeLinks(host, linkPort, settings);
        }
        catch
        {
            Scheduler.Dispose();
            throw;
        }
    }

    public VmScheduler Scheduler { get; }

    public NodeLinks Links { get; }

    /// <summary>How long the journal took to confirm each write of this node's primaries (their log batches and increments).</summary>
    public LatencyHistogram JournalWrites { get; } = new();

    /// <summary>
    /// The VM threads first: they run what is still queued (the stop commands, whose goodbyes must
    /// reach the peers so that no secondary takes over a VM stopped in good order), then the links.
    /// </summary>
    public void Dispose()
    {
        Scheduler.Dispose();
        Links.Dispose();
    }
}
