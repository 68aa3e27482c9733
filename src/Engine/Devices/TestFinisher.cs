using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Devices;

/// <summary>SiFive test finisher as on QEMU virt: 0x5555 passes, (code &lt;&lt; 16) | 0x3333 fails with code.</summary>
internal sealed class TestFinisher : IDevice
{
    private const uint Pass = 0x5555;
    private const uint Fail = 0x3333;

    public uint Read(Machine machine, uint offset, int size) => 0;

    public void Write(Machine machine, uint offset, uint value, int size)
    {
        if (offset != 0) return;
        switch (value & 0xFFFF)
        {
            case Pass: machine.Halt(0); break;
            case Fail: machine.Halt((int)(value >> 16)); break;
        }
    }

    public void Save(BinaryWriter writer) { }
    public void Load(BinaryReader reader) { }
}
