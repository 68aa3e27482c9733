using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Devices;

/// <summary>NS16550A subset: THR emits a console byte, LSR always says "ready to send, empty".</summary>
internal sealed class Uart : IDevice
{
    private const uint Thr = 0;
    private const uint Lsr = 5;
    private const uint LsrTransmitterIdle = 0x60;

    public uint Read(Machine machine, uint offset, int size) => offset == Lsr ? LsrTransmitterIdle : 0;

    public void Write(Machine machine, uint offset, uint value, int size)
    {
        // Divisor latch, FIFO control and the like are accepted and ignored: there is no line to configure.
        if (offset != Thr) return;
        machine.EmitOutput(OutputKind.Console, 0, [(byte)value]);
        machine.ConsoleTail.Append((byte)value);
    }

    public void Save(BinaryWriter writer) { }
    public void Load(BinaryReader reader) { }
}
