using System.Runtime.CompilerServices;
using Lockstep.Engine.Devices;

namespace Lockstep.Engine.Cpu;

/// <summary>The slow path of loads and stores: RAM edges and memory-mapped devices.</summary>
public sealed unsafe partial class Machine
{
    private bool TryLoad(uint address, int size, out uint value)
    {
        uint offset = address - MemoryMap.RamBase;
        if (offset < RamSize)
        {
            value = 0;
            if ((uint)size > RamSize - offset) return false; // straddles the end of RAM
            value = size switch
            {
                1 => _ram[offset],
                2 => Unsafe.ReadUnaligned<ushort>(_ram + offset),
                _ => Unsafe.ReadUnaligned<uint>(_ram + offset),
            };
            return true;
        }
        var device = DeviceAt(address, out uint deviceOffset);
        if (device is null)
        {
            value = 0;
            return false;
        }
        uint raw = device.Read(this, deviceOffset, size);
        if (!ReferenceEquals(device, Uart)) raw >>= (int)(deviceOffset & 3) * 8; // word registers read in parts
        value = size switch { 1 => raw & 0xFF, 2 => raw & 0xFFFF, _ => raw };
        return true;
    }

    private bool TryStore(uint address, int size, uint value)
    {
        uint offset = address - MemoryMap.RamBase;
        if (offset < RamSize)
        {
            if ((uint)size > RamSize - offset) return false;
            Span<byte> bytes = stackalloc byte[4];
            Unsafe.WriteUnaligned(ref bytes[0], value);
            return TryWriteRam(address, bytes[..size]);
        }
        var device = DeviceAt(address, out uint deviceOffset);
        if (device is null) return false;
        uint masked = size switch { 1 => value & 0xFF, 2 => value & 0xFFFF, _ => value };
        device.Write(this, deviceOffset, masked, size);
        return true;
    }

    private IDevice? DeviceAt(uint address, out uint offset)
    {
        if (address - MemoryMap.Clint < MemoryMap.ClintSize)
        {
            offset = address - MemoryMap.Clint;
            return Clint;
        }
        uint page = address & ~(MemoryMap.DevicePageSize - 1);
        offset = address - page;
        return page switch
        {
            MemoryMap.TestFinisher => Finisher,
            MemoryMap.Rtc => Rtc,
            MemoryMap.Uart when offset < 0x100 => Uart,
            MemoryMap.Net => Net,
            MemoryMap.Rng => Rng,
            _ => null,
        };
    }
}
