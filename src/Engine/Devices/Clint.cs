using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Devices;

/// <summary>
/// Core-local interruptor: mtime (a logged clock input) and mtimecmp. Whether MTIP is pending is
/// decided by the input source at boundaries (live: by comparing with the clock; replay: from the log),
/// so a write to mtimecmp only asks for the next boundary to come at once.
/// </summary>
internal sealed class Clint : IDevice
{
    private const uint MtimecmpLow = 0x4000;
    private const uint MtimecmpHigh = 0x4004;
    private const uint MtimeLow = 0xBFF8;
    private const uint MtimeHigh = 0xBFFC;

    /// <summary>Reset value: never, so that no timer is pending before the guest asks for one.</summary>
    public ulong Mtimecmp { get; private set; } = ulong.MaxValue;

    public uint Read(Machine machine, uint offset, int size) => (offset & ~3u) switch
    {
        MtimecmpLow => (uint)Mtimecmp,
        MtimecmpHigh => (uint)(Mtimecmp >> 32),
        MtimeLow => (uint)machine.ReadMtime(),
        MtimeHigh => (uint)(machine.ReadMtime() >> 32),
        _ => 0,
    };

    public void Write(Machine machine, uint offset, uint value, int size)
    {
        switch (offset & ~3u)
        {
            case MtimecmpLow:
                Mtimecmp = (Mtimecmp & 0xFFFF_FFFF_0000_0000) | value;
                machine.RequestBoundary();
                break;
            case MtimecmpHigh:
                Mtimecmp = (Mtimecmp & 0xFFFF_FFFF) | ((ulong)value << 32);
                machine.RequestBoundary();
                break;
        }
    }

    public void Save(BinaryWriter writer) => writer.Write(Mtimecmp);
    public void Load(BinaryReader reader) => Mtimecmp = reader.ReadUInt64();
}
