using System.Buffers.Binary;
using System.Text;

namespace Lockstep.Host.Debugging;

/// <summary>The symbol table of an ELF32 file: name to value (functions and variables).</summary>
public static class ElfSymbols
{
    private const uint SymbolTable = 2;

    public static Dictionary<string, uint> Read(byte[] elf)
    {
        var span = elf.AsSpan();
        uint sectionsAt = BinaryPrimitives.ReadUInt32LittleEndian(span[0x20..]);
        int sectionSize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x2E..]);
        int sectionCount = BinaryPrimitives.ReadUInt16LittleEndian(span[0x30..]);
        var symbols = new Dictionary<string, uint>();
        for (int s = 0; s < sectionCount; s++)
        {
            var header = span[(int)(sectionsAt + s * sectionSize)..];
            if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != SymbolTable) continue;
            uint offset = BinaryPrimitives.ReadUInt32LittleEndian(header[0x10..]);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(header[0x14..]);
            uint link = BinaryPrimitives.ReadUInt32LittleEndian(header[0x18..]);
            uint entrySize = BinaryPrimitives.ReadUInt32LittleEndian(header[0x24..]);
            var strings = span[(int)(sectionsAt + link * sectionSize)..];
            uint stringsAt = BinaryPrimitives.ReadUInt32LittleEndian(strings[0x10..]);
            for (uint at = offset; at + entrySize <= offset + size; at += entrySize)
            {
                uint nameAt = stringsAt + BinaryPrimitives.ReadUInt32LittleEndian(span[(int)at..]);
                int end = span[(int)nameAt..].IndexOf((byte)0);
                string name = Encoding.ASCII.GetString(span.Slice((int)nameAt, end));
                if (name.Length > 0) symbols.TryAdd(name, BinaryPrimitives.ReadUInt32LittleEndian(span[(int)(at + 4)..]));
            }
        }
        return symbols;
    }
}
