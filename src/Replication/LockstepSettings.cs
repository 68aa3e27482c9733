namespace Lockstep.Replication;

/// <summary>Tuning of the lockstep data path (the `lockstep` HOCON section of a node; defaults here).</summary>
public sealed record LockstepSettings(
    TimeSpan HeartbeatInterval,
    TimeSpan HeartbeatTimeout,
    TimeSpan MaxLag,
    TimeSpan ShipInterval,
    ulong SliceInstructions,
    TimeSpan CheckpointInterval,
    TimeSpan ClaimDelayAfterSilence)
{
    public static LockstepSettings Default { get; } = new(
        TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(750), TimeSpan.FromMilliseconds(100),
        TimeSpan.FromMilliseconds(2), 200_000, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
}
