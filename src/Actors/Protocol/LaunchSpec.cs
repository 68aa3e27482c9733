namespace Lockstep.Actors.Protocol;

/// <summary>What every side of a VM is made from: its name, its image and its memory size.</summary>
public sealed record LaunchSpec(string Name, byte[] Image, uint MemorySize);
