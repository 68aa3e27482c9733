using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Devices;

/// <summary>A memory-mapped device. Offsets are relative to the device's base address.</summary>
internal interface IDevice
{
    uint Read(Machine machine, uint offset, int size);
    void Write(Machine machine, uint offset, uint value, int size);
    void Save(BinaryWriter writer);
    void Load(BinaryReader reader);
}
