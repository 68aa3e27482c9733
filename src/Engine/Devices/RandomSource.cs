using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Devices;

/// <summary>RNG device: each read of offset 0 is 32 random bits, a logged input.</summary>
internal sealed class RandomSource : IDevice
{
    public uint Read(Machine machine, uint offset, int size) =>
        (offset & ~3u) == 0 ? machine.Inputs.ReadRandom(machine) : 0;

    public void Write(Machine machine, uint offset, uint value, int size) { }
    public void Save(BinaryWriter writer) { }
    public void Load(BinaryReader reader) { }
}
