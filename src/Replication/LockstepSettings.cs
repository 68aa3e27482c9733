namespace Lockstep.Replication;

/// <summary>Tuning of the lockstep data path (the `lockstep` HOCON section of a node; defaults here).</summary>
/// <param name="VmThreads">Threads of the node's <see cref="Scheduling.VmScheduler"/>, which run all its VM sides.</param>
/// <param name="Tls">When set, every lockstep link runs over mutual TLS pinned to the cluster CA, and plain-text peers are refused.</param>
public sealed record LockstepSettings(
    TimeSpan HeartbeatInterval,
    TimeSpan HeartbeatTimeout,
    TimeSpan MaxLag,
    TimeSpan ShipInterval,
    ulong SliceInstructions,
    TimeSpan CheckpointInterval,
    TimeSpan ClaimDelayAfterSilence,
    int VmThreads,
    Links.LinkTls? Tls = null)
{
    /// <summary>How many of the newest console bytes a VM keeps for `vm console` (<c>lockstep.console-kept</c>).</summary>
    public int ConsoleKeptBytes { get; init; } = Lockstep.Engine.Devices.ConsoleRing.DefaultCapacity;

    public static LockstepSettings Default { get; } = new(
        TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(750), TimeSpan.FromMilliseconds(100),
        TimeSpan.FromMilliseconds(2), 200_000, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1),
        Environment.ProcessorCount);
}
