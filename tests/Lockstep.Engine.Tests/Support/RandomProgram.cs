using Lockstep.Engine.Cpu;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

/// <summary>
/// Random RV32IM programs for comparing compiled code with the interpreter: arithmetic, loads and
/// stores around a data area (half of it in a page never written before), forward branches and jumps (some to misaligned targets), counted
/// loops, device reads, console writes, counter reads, traps, and calls into a routine that the
/// program keeps rewriting. A handler skips whatever traps, and the body starts again at its end,
/// so all of it gets hot.
/// </summary>
public static class RandomProgram
{
    public const int BodyStart = 48;
    public const int PatchIndex = 0x800;
    public const int PatchLength = 16;
    public const int HandlerIndex = 0xC00;
    public const uint DataAddress = Prog.Base + 0x8000;

    // Registers the body never writes: bases for data, devices and the patched routine, the loop
    // counter, the routine's link and address, and scratch for sequences and for the handler.
    private const int DataBase = 8, DeviceBase = 9, PatchBase = 18, Counter = 27, Link = 28, PatchAddress = 29, Temp = 30, HandlerScratch = 31;
    private static readonly int[] Pool = [1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 26];

    /// <summary>Instructions that belong together; jumps only ever land on the first.</summary>
    private sealed record Item(int Length, Func<int, uint[]> Emit);

    public static Prog Generate(Random random, int bodyLength = 200)
    {
        uint patch = Prog.At(PatchIndex);
        uint patchUpper = (patch + 0x800) & 0xFFFFF000;
        var program = new Prog
        {
            Li(DataBase, DataAddress),
            Li(DeviceBase, MemoryMap.Uart),
            Li(PatchBase, patch),
            Lui(PatchAddress, patchUpper),
            Li(Temp, Prog.At(HandlerIndex)),
            Csrw(Mtvec, Temp),
        };
        for (int i = 0; i < 12; i++) program.Add(Li(Pool[random.Next(Pool.Length)], (uint)random.Next() ^ ((uint)random.Next(4) << 30)));
        while (program.Count < BodyStart) program.Add(Nop());

        // First the layout, so that jumps can be aimed at the starts of items.
        int end = BodyStart + bodyLength;
        var items = new List<Item>();
        var starts = new List<int>();
        int loopStart = -1, loopEnd = -1;
        for (int index = BodyStart; index < end;)
        {
            int limit = loopEnd >= 0 ? loopEnd : end;
            Item item;
            if (index == loopEnd)
            {
                // Counted down to zero; entered from the side with a spent counter, it just falls out.
                int back = 4 * (loopStart - index - 1);
                item = new Item(2, _ => [Addi(Counter, Counter, -1), Blt(Zero, Counter, back)]);
                loopEnd = -1;
            }
            else if (loopEnd < 0 && index + 8 < end && random.Next(20) == 0)
            {
                int count = random.Next(1, 40);
                item = new Item(1, _ => [Addi(Counter, Zero, count)]);
                loopStart = index + 1;
                loopEnd = Math.Min(end - 2, index + random.Next(4, 30));
            }
            else
            {
                item = Instruction(random, target: at => Forward(random, starts, at, limit), patchUpper, patch - patchUpper);
                if (index + item.Length > limit) item = new Item(1, _ => [Nop()]);
            }
            items.Add(item);
            starts.Add(index);
            index += item.Length;
        }
        for (int i = 0; i < items.Count; i++) program.Add(items[i].Emit(starts[i]));
        program.Add(Jal(Zero, 4 * (BodyStart - program.Count)));

        while (program.Count < PatchIndex) program.Add(Nop());
        for (int i = 0; i < PatchLength; i++) program.Add(Arithmetic(random));
        program.Add(Jalr(Zero, Link, 0));

        while (program.Count < HandlerIndex) program.Add(Nop());
        program.Add(Csrr(HandlerScratch, Mcause));              // +0
        program.Add(Addi(HandlerScratch, HandlerScratch, -1));  // +1
        program.Add(Bne(HandlerScratch, Zero, 16));             // +2: not an instruction access fault: skip the instruction
        program.Add(Li(HandlerScratch, Prog.At(BodyStart)));    // +3, +4: fetching outside RAM: start the body again
        program.Add(Jal(Zero, 12));                             // +5
        program.Add(Csrr(HandlerScratch, Mepc));                // +6
        program.Add(Addi(HandlerScratch, HandlerScratch, 4));   // +7
        program.Add(Csrw(Mepc, HandlerScratch));                // +8
        program.Add(Mret());                                    // +9

        // Random data below the data base, so that loads see all kinds of values from the start; the page
        // above starts never written, so stores there (zeroes among them) find it untouched.
        while (program.Count < (DataAddress - Prog.Base - 2048) / 4) program.Add(Nop());
        for (int i = 0; i < 2048 / 4; i++) program.Add((uint)random.Next() ^ ((uint)random.Next(2) << 31));
        return program;
    }

    /// <param name="target">Gives the offset of a forward jump from the given index.</param>
    private static Item Instruction(Random random, Func<int, int> target, uint patchUpper, uint patchLower)
    {
        int roll = random.Next(100);
        return roll switch
        {
            < 25 => One(Arithmetic(random)),
            < 28 => One(random.Next(2) == 0 ? Lui(Destination(random), (uint)random.Next()) : Auipc(Destination(random), (uint)random.Next())),
            < 42 => One(Load(random, Destination(random), DataBase, random.Next(-2048, 2048))),
            < 54 => One(Store(random, Source(random), DataBase, random.Next(-2048, 2048))),
            < 56 => One(random.Next(2) == 0 ? Lbu(Destination(random), DeviceBase, 5) : Lw(Destination(random), DeviceBase, 0)),
            < 57 => One(Sb(Source(random), DeviceBase, 0)), // a console byte: an output
            < 59 => One(random.Next(2) == 0 ? Load(random, Destination(random), Source(random), random.Next(-64, 64)) : Store(random, Source(random), Source(random), random.Next(-64, 64))),
            // Calls the patched routine; landing on the jalr works too, as PatchAddress never changes.
            < 61 => new Item(2, _ => [Lui(PatchAddress, patchUpper), Jalr(Link, PatchAddress, (int)patchLower)]),
            < 62 => PatchStore(random),
            < 74 => Jump(at => Branch(random, Source(random), Source(random), target(at))),
            < 76 => Jump(at => Jal(random.Next(3) == 0 ? Zero : Pool[random.Next(Pool.Length)], target(at))),
            < 78 => new Item(2, at => [Auipc(Temp, 0), Jalr(Destination(random), Temp, 4 + target(at + 1) + random.Next(2))]),
            < 81 => One(random.Next(4) switch
            {
                0 => Csrr(Destination(random), Minstret),
                1 => Csrr(Destination(random), Mcycle),
                2 => Csrw(Mscratch, Source(random)),
                _ => Csrr(Destination(random), Mscratch),
            }),
            < 82 => One(random.Next(3) switch { 0 => Ecall(), 1 => Ebreak(), _ => 0u }),
            < 83 => One(Fence()),
            _ => One(Arithmetic(random)),
        };
    }

    private static Item One(uint instruction) => new(1, _ => [instruction]);

    private static Item Jump(Func<int, uint> emit) => new(1, at => [emit(at)]);

    private static Item PatchStore(Random random)
    {
        uint[] words = [.. Li(Temp, Arithmetic(random)), Sw(Temp, PatchBase, 4 * random.Next(PatchLength))];
        return new Item(words.Length, _ => words);
    }

    /// <summary>A register-register or register-immediate operation (RV32IM) on the pool.</summary>
    public static uint Arithmetic(Random random)
    {
        int rd = Destination(random), rs1 = Source(random), rs2 = Source(random);
        int imm = random.Next(3) == 0 ? random.Next(-4, 4) : random.Next(-2048, 2048);
        int shamt = random.Next(32);
        return random.Next(28) switch
        {
            0 => Addi(rd, rs1, imm), 1 => Slti(rd, rs1, imm), 2 => Sltiu(rd, rs1, imm), 3 => Xori(rd, rs1, imm),
            4 => Ori(rd, rs1, imm), 5 => Andi(rd, rs1, imm), 6 => Slli(rd, rs1, shamt), 7 => Srli(rd, rs1, shamt),
            8 => Srai(rd, rs1, shamt), 9 => Add(rd, rs1, rs2), 10 => Sub(rd, rs1, rs2), 11 => Sll(rd, rs1, rs2),
            12 => Slt(rd, rs1, rs2), 13 => Sltu(rd, rs1, rs2), 14 => Xor(rd, rs1, rs2), 15 => Srl(rd, rs1, rs2),
            16 => Sra(rd, rs1, rs2), 17 => Or(rd, rs1, rs2), 18 => And(rd, rs1, rs2), 19 => Mul(rd, rs1, rs2),
            20 => Mulh(rd, rs1, rs2), 21 => Mulhsu(rd, rs1, rs2), 22 => Mulhu(rd, rs1, rs2), 23 => Div(rd, rs1, rs2),
            24 => Divu(rd, rs1, rs2), 25 => Rem(rd, rs1, rs2), 26 => Remu(rd, rs1, rs2),
            _ => Addi(rd, rs1, random.Next(-3, 3)),
        };
    }

    private static uint Load(Random random, int rd, int rs1, int imm) => random.Next(5) switch
    {
        0 => Lb(rd, rs1, imm), 1 => Lh(rd, rs1, imm), 2 => Lbu(rd, rs1, imm), 3 => Lhu(rd, rs1, imm), _ => Lw(rd, rs1, imm),
    };

    private static uint Store(Random random, int rs2, int rs1, int imm) => random.Next(3) switch
    {
        0 => Sb(rs2, rs1, imm), 1 => Sh(rs2, rs1, imm), _ => Sw(rs2, rs1, imm),
    };

    private static uint Branch(Random random, int rs1, int rs2, int offset) => random.Next(6) switch
    {
        0 => Beq(rs1, rs2, offset), 1 => Bne(rs1, rs2, offset), 2 => Blt(rs1, rs2, offset),
        3 => Bge(rs1, rs2, offset), 4 => Bltu(rs1, rs2, offset), _ => Bgeu(rs1, rs2, offset),
    };

    /// <summary>
    /// The offset from <paramref name="index"/> to the start of one of the next few items, no
    /// further than <paramref name="limit"/>; now and then misaligned (a trap when taken).
    /// </summary>
    private static int Forward(Random random, List<int> starts, int index, int limit)
    {
        var ahead = starts.Where(s => s > index && s <= limit).Take(12).Append(limit).ToList();
        return 4 * (ahead[random.Next(ahead.Count)] - index) + (random.Next(20) == 0 ? 2 : 0);
    }

    /// <summary>Mostly the pool, sometimes x0 (writes are dropped).</summary>
    private static int Destination(Random random) => random.Next(20) == 0 ? Zero : Pool[random.Next(Pool.Length)];

    /// <summary>The pool, x0, or a base register.</summary>
    private static int Source(Random random) => random.Next(12) switch
    {
        0 => Zero,
        1 => DataBase,
        _ => Pool[random.Next(Pool.Length)],
    };
}
