namespace Lockstep.Engine.Running;

/// <summary>A packet to hand to the guest once <paramref name="At"/> has passed since the run began.</summary>
public sealed record ScheduledPacket(TimeSpan At, uint Peer, byte[] Data);
