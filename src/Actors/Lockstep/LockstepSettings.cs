using Akka.Configuration;

namespace Lockstep.Actors.Lockstep;

/// <summary>Tuning of the lockstep data path, from the `lockstep` HOCON section.</summary>
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

    public static LockstepSettings From(Config config)
    {
        var c = config.GetConfig("lockstep");
        if (c is null || c.IsEmpty) return Default;
        return new LockstepSettings(
            c.GetTimeSpan("heartbeat-interval", Default.HeartbeatInterval),
            c.GetTimeSpan("heartbeat-timeout", Default.HeartbeatTimeout),
            c.GetTimeSpan("max-lag", Default.MaxLag),
            c.GetTimeSpan("ship-interval", Default.ShipInterval),
            (ulong)c.GetLong("slice-instructions", (long)Default.SliceInstructions),
            c.GetTimeSpan("checkpoint-interval", Default.CheckpointInterval),
            c.GetTimeSpan("claim-delay-after-silence", Default.ClaimDelayAfterSilence));
    }
}
