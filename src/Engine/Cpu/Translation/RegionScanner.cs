using System.Buffers.Binary;

namespace Lockstep.Engine.Cpu.Translation;

/// <summary>Finds the region to compile for an entry point, reading the code straight from RAM.</summary>
internal static class RegionScanner
{
    public const int WordsPerPage = MemoryMap.PageSize / 4;

    /// <summary>Bigger methods take the JIT longer and beyond its limits it stops optimising them.</summary>
    public const int MaxInstructions = 400;

    /// <summary>The region starting at word <paramref name="entryWord"/> of the page, or null when its first instruction is not translatable.</summary>
    /// <param name="entries">Per word, how often the interpreter jumped there: jump targets never reached are left out,
    /// which keeps a loop's region to the loop and its registers few enough for the JIT to keep them in machine registers.</param>
    public static Region? Scan(ReadOnlySpan<byte> page, uint pageBase, int entryWord, ReadOnlySpan<byte> entries)
    {
        // Plain arrays rather than collections: this runs seldom, and every generic instantiation costs JIT time on first use.
        var decoded = new DecodedInstruction[WordsPerPage];
        var covered = new bool[WordsPerPage];
        var leader = new bool[WordsPerPage];
        var pending = new int[WordsPerPage];
        int pendingCount = 0, total = 0;
        leader[entryWord] = true;
        pending[pendingCount++] = entryWord;

        // Pass 1: mark every instruction reachable from the entry, stopping at what cannot be translated.
        while (pendingCount > 0)
        {
            for (int w = pending[--pendingCount]; w < WordsPerPage && total < MaxInstructions; w++)
            {
                if (covered[w])
                {
                    leader[w] = true; // straight-line code running into code already scanned: that starts a block
                    break;
                }
                uint pc = pageBase + 4u * (uint)w;
                var d = Decoder.Decode(BinaryPrimitives.ReadUInt32LittleEndian(page[(4 * w)..]));
                if (!IsTranslatable(d, pc)) break;
                decoded[w] = d;
                covered[w] = true;
                total++;
                if (!IsJump(d.Op)) continue;
                if (d.Op == Opcode.Jalr) break;
                Follow(pc + (uint)d.Imm - pageBase, entries, leader, pending, ref pendingCount);
                if (d.Op != Opcode.Jal || d.Rd != Decoder.SinkRegister) // not taken, or where a call returns
                    Follow(pc + 4 - pageBase, entries, leader, pending, ref pendingCount);
                break;
            }
        }
        if (!covered[entryWord]) return null;

        // Pass 2: cut the covered code into blocks at every leader.
        var blocks = new List<Block>();
        var returnPoints = new uint[WordsPerPage];
        int returnCount = 0;
        var coveredWords = new ulong[WordsPerPage / 64];
        for (int start = 0; start < WordsPerPage; start++)
        {
            if (!leader[start] || !covered[start]) continue;
            int w = start;
            var end = BlockEnd.FallThrough;
            for (; ; w++)
            {
                var d = decoded[w];
                coveredWords[w >> 6] |= 1UL << w;
                if (IsJump(d.Op))
                {
                    end = d.Op switch { Opcode.Jal => BlockEnd.Jal, Opcode.Jalr => BlockEnd.Jalr, _ => BlockEnd.Branch };
                    if (d.Op == Opcode.Jal && d.Rd != Decoder.SinkRegister && w + 1 < WordsPerPage && covered[w + 1])
                        returnPoints[returnCount++] = pageBase + 4u * (uint)(w + 1);
                    break;
                }
                if (w + 1 == WordsPerPage || !covered[w + 1] || leader[w + 1]) break;
            }
            var body = new DecodedInstruction[w - start + 1];
            Array.Copy(decoded, start, body, 0, body.Length);
            blocks.Add(new Block(pageBase + 4u * (uint)start, body, end));
        }
        Array.Resize(ref returnPoints, returnCount);
        return new Region(pageBase + 4u * (uint)entryWord, [.. blocks], returnPoints, coveredWords);
    }

    /// <summary>Queues the jump target at <paramref name="offset"/> in the page, if it is in the page and the interpreter has been there.</summary>
    private static void Follow(uint offset, ReadOnlySpan<byte> entries, bool[] leader, int[] pending, ref int pendingCount)
    {
        if (offset >= MemoryMap.PageSize || entries[(int)(offset >> 2)] == 0 || leader[offset >> 2]) return;
        leader[offset >> 2] = true;
        pending[pendingCount++] = (int)(offset >> 2);
    }

    private static bool IsJump(Opcode op) => op is Opcode.Jal or Opcode.Jalr or (>= Opcode.Beq and <= Opcode.Bgeu);

    /// <summary>
    /// Whether compiled code can run the instruction exactly as the interpreter would. The rest
    /// (system instructions, jumps that trap) end the region and run in the interpreter.
    /// </summary>
    private static bool IsTranslatable(in DecodedInstruction d, uint pc) => d.Op switch
    {
        Opcode.Jal or (>= Opcode.Beq and <= Opcode.Bgeu) => ((pc + (uint)d.Imm) & 3) == 0,
        Opcode.Ecall or Opcode.Ebreak or Opcode.Mret or Opcode.Wfi or Opcode.Illegal or Opcode.Undecoded => false,
        >= Opcode.Csrrw and <= Opcode.Csrrci => false,
        _ => true,
    };
}
