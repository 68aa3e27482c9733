namespace Lockstep.Engine.Cpu;

/// <summary>Physical addresses of the machine contract (a subset of QEMU's virt board plus our devices).</summary>
public static class MemoryMap
{
    public const uint RamBase = 0x8000_0000;
    public const uint DefaultRamSize = 16 * 1024 * 1024;
    public const uint TestFinisher = 0x0010_0000;
    public const uint Rtc = 0x0010_1000;
    public const uint Clint = 0x0200_0000;
    public const uint ClintSize = 0x1_0000;
    public const uint Uart = 0x1000_0000;
    public const uint Net = 0x1100_0000;
    public const uint Rng = 0x1100_1000;
    public const uint DevicePageSize = 0x1000;
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
}
