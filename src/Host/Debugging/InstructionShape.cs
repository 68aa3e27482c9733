namespace Lockstep.Host.Debugging;

/// <summary>A guest memory access an instruction is about to make.</summary>
public readonly record struct MemoryAccess(uint Address, int Size, bool IsStore)
{
    public bool Overlaps(uint address, uint length) => Address < address + length && address < Address + (uint)Size;
}

/// <summary>
/// Just enough RV32IM decoding for the debugger to run the machine in exact stretches: which
/// instructions surely fall through to the next one (so a run of them visits consecutive pcs), and
/// which memory an instruction is about to touch. The machine's own decoder is internal to the
/// engine; anything not recognised here is treated as able to go anywhere, which is always safe.
/// </summary>
public static class InstructionShape
{
    private const uint Load = 0x03, Store = 0x23, OpImm = 0x13, Op = 0x33, Lui = 0x37, Auipc = 0x17, MiscMem = 0x0F;

    /// <summary>True when the instruction cannot trap, jump or change interrupt state: it always ends at pc + 4.</summary>
    public static bool FallsThrough(uint bits)
    {
        uint funct3 = (bits >> 12) & 7, funct7 = bits >> 25;
        return (bits & 0x7F) switch
        {
            Lui or Auipc => true,
            OpImm => funct3 switch
            {
                1 => funct7 == 0,
                5 => funct7 is 0 or 0x20,
                _ => true,
            },
            Op => funct7 switch
            {
                0 or 1 => true,
                0x20 => funct3 is 0 or 5,
                _ => false,
            },
            MiscMem => funct3 is 0 or 1,
            _ => false,
        };
    }

    /// <summary>The RAM or device access a load or store would make with the given base register value; null for other instructions.</summary>
    public static MemoryAccess? AccessOf(uint bits, Func<int, uint> register)
    {
        uint funct3 = (bits >> 12) & 7;
        int rs1 = (int)((bits >> 15) & 31);
        switch (bits & 0x7F)
        {
            case Load when funct3 is 0 or 1 or 2 or 4 or 5:
                return new MemoryAccess(register(rs1) + (uint)((int)bits >> 20), SizeOf(funct3 & 3), IsStore: false);
            case Store when funct3 is 0 or 1 or 2:
                int imm = ((int)bits >> 25 << 5) | (int)((bits >> 7) & 31);
                return new MemoryAccess(register(rs1) + (uint)imm, SizeOf(funct3), IsStore: true);
            default:
                return null;
        }
    }

    private static int SizeOf(uint width) => width switch { 0 => 1, 1 => 2, _ => 4 };
}
