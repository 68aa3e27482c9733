using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Devices;

/// <summary>
/// Goldfish RTC: reading TIME_LOW samples wall-clock nanoseconds (a logged input) and latches the
/// high half, so the TIME_HIGH read that follows is deterministic and not logged.
/// </summary>
internal sealed class GoldfishRtc : IDevice
{
    private const uint TimeLow = 0;
    private const uint TimeHigh = 4;
    private uint _latchedHigh;

    public uint Read(Machine machine, uint offset, int size)
    {
        switch (offset & ~3u)
        {
            case TimeLow:
                ulong nanos = machine.Inputs.ReadRtc(machine);
                _latchedHigh = (uint)(nanos >> 32);
                return (uint)nanos;
            case TimeHigh:
                return _latchedHigh;
            default:
                return 0;
        }
    }

    public void Write(Machine machine, uint offset, uint value, int size) { }

    public void Save(BinaryWriter writer) => writer.Write(_latchedHigh);
    public void Load(BinaryReader reader) => _latchedHigh = reader.ReadUInt32();
}
