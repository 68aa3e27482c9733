using System.Buffers.Binary;
using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Loading;

/// <summary>Loads an ELF32 RISC-V executable into a machine by its PT_LOAD segments.</summary>
public static class ElfLoader
{
    private const ushort MachineRiscV = 243;
    private const ushort TypeExecutable = 2;
    private const uint SegmentLoad = 1;
    private const uint FlagCompressed = 1; // EF_RISCV_RVC: the machine has no C extension

    /// <summary>Checks the image, copies its segments into RAM and sets pc to the entry point.</summary>
    public static void Load(Machine machine, ReadOnlySpan<byte> elf)
    {
        var segments = Parse(elf, machine.RamSize, out uint entry);
        foreach (var (address, fileBytes, memorySize) in segments)
        {
            machine.TryWriteRam(address, fileBytes.Span);
            int zeroes = (int)(memorySize - (uint)fileBytes.Length);
            if (zeroes > 0) machine.TryWriteRam(address + (uint)fileBytes.Length, new byte[zeroes]);
        }
        machine.Pc = entry;
        machine.ClearDirtyPages();
    }

    public static List<(uint Address, ReadOnlyMemory<byte> FileBytes, uint MemorySize)> Parse(ReadOnlySpan<byte> elf, uint ramSize, out uint entry)
    {
        if (elf.Length < 52 || elf[0] != 0x7F || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new ImageException("not an ELF file (bad magic)");
        if (elf[4] != 1) throw new ImageException($"wrong ELF class: {(elf[4] == 2 ? "64-bit" : $"class {elf[4]}")}, the machine runs 32-bit (RV32) images");
        if (elf[5] != 1) throw new ImageException("wrong ELF byte order: big-endian, RISC-V images are little-endian");
        ushort type = BinaryPrimitives.ReadUInt16LittleEndian(elf[16..]);
        ushort machine = BinaryPrimitives.ReadUInt16LittleEndian(elf[18..]);
        if (machine != MachineRiscV) throw new ImageException($"wrong ELF machine: {machine}, expected RISC-V ({MachineRiscV})");
        if (type != TypeExecutable) throw new ImageException($"ELF type {type} is not an executable (ET_EXEC)");
        entry = BinaryPrimitives.ReadUInt32LittleEndian(elf[24..]);
        uint phoff = BinaryPrimitives.ReadUInt32LittleEndian(elf[28..]);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(elf[36..]);
        ushort phentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[42..]);
        ushort phnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[44..]);
        if ((flags & FlagCompressed) != 0) throw new ImageException("image uses compressed instructions (RVC); build for rv32im");
        if (phnum == 0 || phentsize < 32 || phoff + (ulong)phnum * phentsize > (ulong)elf.Length)
            throw new ImageException("ELF program headers are missing or lie outside the file");

        var result = new List<(uint, ReadOnlyMemory<byte>, uint)>();
        byte[] copy = elf.ToArray();
        for (int i = 0; i < phnum; i++)
        {
            var ph = elf.Slice((int)(phoff + i * phentsize), 32);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != SegmentLoad) continue;
            uint offset = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]);
            uint address = BinaryPrimitives.ReadUInt32LittleEndian(ph[12..]); // p_paddr, as QEMU loads it
            uint fileSize = BinaryPrimitives.ReadUInt32LittleEndian(ph[16..]);
            uint memorySize = BinaryPrimitives.ReadUInt32LittleEndian(ph[20..]);
            if (memorySize == 0) continue;
            if (fileSize > memorySize || (ulong)offset + fileSize > (ulong)elf.Length)
                throw new ImageException($"ELF segment {i} is malformed (file bytes beyond the file or beyond its memory size)");
            ulong start = address, end = start + memorySize;
            if (start < MemoryMap.RamBase || end > (ulong)MemoryMap.RamBase + ramSize)
                throw new ImageException($"ELF segment {i} at 0x{start:x8}-0x{end - 1:x8} lies outside RAM (0x{MemoryMap.RamBase:x8}-0x{MemoryMap.RamBase + (ulong)ramSize - 1:x8})");
            result.Add((address, copy.AsMemory((int)offset, (int)fileSize), memorySize));
        }
        if (result.Count == 0) throw new ImageException("ELF has no loadable segments");
        if (entry - MemoryMap.RamBase >= ramSize || (entry & 3) != 0)
            throw new ImageException($"ELF entry point 0x{entry:x8} is not an aligned address in RAM");
        return result;
    }
}
