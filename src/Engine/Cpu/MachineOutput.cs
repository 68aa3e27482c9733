namespace Lockstep.Engine.Cpu;

public enum OutputKind : byte { Console = 1, Packet = 2 }

/// <summary>
/// An effect of the guest on the world. <paramref name="Seq"/> counts outputs deterministically
/// per VM, so a receiver can drop repeats after a failover; <paramref name="Position"/> is the
/// instruction count at which it was produced.
/// </summary>
public sealed record MachineOutput(ulong Seq, ulong Position, OutputKind Kind, uint Peer, byte[] Data);
