using System.Buffers.Binary;
using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Tests;

/// <summary>Builds the smallest ELF32 RISC-V executable: one PT_LOAD segment holding the given code.</summary>
public static class MiniElf
{
    public const int HeaderSize = 52, ProgramHeaderSize = 32;

    public static byte[] Build(ReadOnlySpan<byte> code, uint loadAddress = MemoryMap.RamBase, uint? entry = null, uint extraZeroes = 0)
    {
        var elf = new byte[HeaderSize + ProgramHeaderSize + code.Length];
        var e = elf.AsSpan();
        e[0] = 0x7F; e[1] = (byte)'E'; e[2] = (byte)'L'; e[3] = (byte)'F';
        e[4] = 1;  // ELFCLASS32
        e[5] = 1;  // little-endian
        e[6] = 1;  // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(e[16..], 2);    // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(e[18..], 243);  // EM_RISCV
        BinaryPrimitives.WriteUInt32LittleEndian(e[20..], 1);    // e_version
        BinaryPrimitives.WriteUInt32LittleEndian(e[24..], entry ?? loadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(e[28..], HeaderSize); // e_phoff
        BinaryPrimitives.WriteUInt32LittleEndian(e[32..], 0);    // e_shoff
        BinaryPrimitives.WriteUInt32LittleEndian(e[36..], 0);    // e_flags
        BinaryPrimitives.WriteUInt16LittleEndian(e[40..], HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(e[42..], ProgramHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(e[44..], 1);    // e_phnum
        BinaryPrimitives.WriteUInt16LittleEndian(e[46..], 40);   // e_shentsize
        var ph = e.Slice(HeaderSize, ProgramHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(ph, 1);                       // PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(ph[4..], HeaderSize + ProgramHeaderSize); // p_offset
        BinaryPrimitives.WriteUInt32LittleEndian(ph[8..], loadAddress);        // p_vaddr
        BinaryPrimitives.WriteUInt32LittleEndian(ph[12..], loadAddress);       // p_paddr
        BinaryPrimitives.WriteUInt32LittleEndian(ph[16..], (uint)code.Length); // p_filesz
        BinaryPrimitives.WriteUInt32LittleEndian(ph[20..], (uint)code.Length + extraZeroes); // p_memsz
        BinaryPrimitives.WriteUInt32LittleEndian(ph[24..], 5);                 // R+X
        BinaryPrimitives.WriteUInt32LittleEndian(ph[28..], 4);                 // p_align
        code.CopyTo(e[(HeaderSize + ProgramHeaderSize)..]);
        return elf;
    }

    public static byte[] Build(Prog program, uint loadAddress = MemoryMap.RamBase, uint? entry = null, uint extraZeroes = 0) =>
        Build(program.ToBytes(), loadAddress, entry, extraZeroes);
}
