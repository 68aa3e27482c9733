namespace Lockstep.Actors.Protocol;

/// <summary>What every side of a VM is made from: its name, its image and its memory size.</summary>
/// <param name="Durable">Outputs leave only once the journal has committed the log before them too (`vm create --durable`).</param>
public sealed record LaunchSpec(string Name, byte[] Image, uint MemorySize, bool Durable = false);
