using Akka.Configuration;
using Lockstep.Replication;

namespace Lockstep.Actors.Node;

/// <summary>Reads <see cref="LockstepSettings"/> from a node's `lockstep` HOCON section (defaults for what is not set).</summary>
public static class LockstepSettingsConfig
{
    public static LockstepSettings From(Config config)
    {
        var d = LockstepSettings.Default;
        var c = config.GetConfig("lockstep");
        if (c is null || c.IsEmpty) return d;
        int vmThreads = c.GetInt("vm-threads", d.VmThreads);
        if (vmThreads < 1) throw new ArgumentException($"lockstep.vm-threads = {vmThreads}: a node needs at least 1 VM thread");
        long consoleKept = c.GetByteSize("console-kept") ?? d.ConsoleKeptBytes;
        if (consoleKept is < 1 or > Lockstep.Engine.Devices.ConsoleRing.MaxCapacity)
            throw new ArgumentException($"lockstep.console-kept = {consoleKept} bytes: keep between 1 byte and {Lockstep.Engine.Devices.ConsoleRing.MaxCapacity / (1024 * 1024)} MiB of console per VM");
        return new LockstepSettings(
            c.GetTimeSpan("heartbeat-interval", d.HeartbeatInterval),
            c.GetTimeSpan("heartbeat-timeout", d.HeartbeatTimeout),
            c.GetTimeSpan("max-lag", d.MaxLag),
            c.GetTimeSpan("ship-interval", d.ShipInterval),
            (ulong)c.GetLong("slice-instructions", (long)d.SliceInstructions),
            c.GetTimeSpan("checkpoint-interval", d.CheckpointInterval),
            c.GetTimeSpan("claim-delay-after-silence", d.ClaimDelayAfterSilence),
            vmThreads) { ConsoleKeptBytes = (int)consoleKept };
    }
}
