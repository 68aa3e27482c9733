using Lockstep.Replication;

namespace Lockstep.Host.Bench;

/// <summary>
/// The two "nodes" of an in-process benchmark: each a replication engine (VM threads and lockstep
/// links) of its own, as a primary's node and a secondary's node would have. Every VM of a run uses them.
/// </summary>
public sealed class BenchNodes(LockstepSettings settings) : IDisposable
{
    public ReplicationEngine Primary { get; } = new("127.0.0.1", 0, settings, "primary-vm");

    public ReplicationEngine Secondary { get; } = new("127.0.0.1", 0, settings, "secondary-vm");

    public void Dispose()
    {
        Primary.Dispose();
        Secondary.Dispose();
    }
}
