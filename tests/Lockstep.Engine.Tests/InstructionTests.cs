using Lockstep.Engine.Cpu;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

public class InstructionTests
{
    private const uint Data = Prog.Base + 0x1000;

    /// <summary>Runs exactly one instruction at the start of RAM after setting the given registers.</summary>
    private static Machine Step(uint instruction, params (int Reg, uint Value)[] setup)
    {
        var machine = new Prog { instruction }.Load();
        foreach (var (reg, value) in setup) machine.SetRegister(reg, value);
        Assert.Equal(StopReason.Budget, machine.Run(1));
        Assert.Equal(1UL, machine.Position);
        Assert.Null(machine.Fault);
        return machine;
    }

    private static uint RegOp(string op, uint a, uint b)
    {
        uint instruction = op switch
        {
            "add" => Add(A0, A1, A2), "sub" => Sub(A0, A1, A2), "sll" => Sll(A0, A1, A2),
            "slt" => Slt(A0, A1, A2), "sltu" => Sltu(A0, A1, A2), "xor" => Xor(A0, A1, A2),
            "srl" => Srl(A0, A1, A2), "sra" => Sra(A0, A1, A2), "or" => Or(A0, A1, A2), "and" => And(A0, A1, A2),
            "mul" => Mul(A0, A1, A2), "mulh" => Mulh(A0, A1, A2), "mulhsu" => Mulhsu(A0, A1, A2),
            "mulhu" => Mulhu(A0, A1, A2), "div" => Div(A0, A1, A2), "divu" => Divu(A0, A1, A2),
            "rem" => Rem(A0, A1, A2), "remu" => Remu(A0, A1, A2),
            _ => throw new ArgumentException(op),
        };
        var machine = Step(instruction, (A1, a), (A2, b));
        Assert.Equal(StopReason.Budget, machine.Run(0));
        Assert.Equal(Prog.Base + 4, machine.Pc);
        return machine[A0];
    }

    [Theory]
    [InlineData("add", 5u, 7u, 12u)]
    [InlineData("add", 0xFFFFFFFFu, 1u, 0u)]
    [InlineData("sub", 3u, 5u, 0xFFFFFFFEu)]
    [InlineData("sub", 0x80000000u, 1u, 0x7FFFFFFFu)]
    [InlineData("xor", 0xF0F0F0F0u, 0xFF00FF00u, 0x0FF00FF0u)]
    [InlineData("or", 0xF0F0F0F0u, 0x0F000F00u, 0xFFF0FFF0u)]
    [InlineData("and", 0xF0F0F0F0u, 0xFF00FF00u, 0xF000F000u)]
    [InlineData("slt", 0xFFFFFFFFu, 1u, 1u)]          // -1 < 1
    [InlineData("slt", 1u, 0xFFFFFFFFu, 0u)]
    [InlineData("slt", 0x80000000u, 0x7FFFFFFFu, 1u)]
    [InlineData("slt", 4u, 4u, 0u)]
    [InlineData("sltu", 0xFFFFFFFFu, 1u, 0u)]         // huge unsigned is not below 1
    [InlineData("sltu", 1u, 0xFFFFFFFFu, 1u)]
    [InlineData("sltu", 0u, 0u, 0u)]
    public void Integer_register_ops(string op, uint a, uint b, uint expected) => Assert.Equal(expected, RegOp(op, a, b));

    [Theory]
    [InlineData("sll", 1u, 31u, 0x80000000u)]
    [InlineData("sll", 1u, 32u, 1u)]                  // only the low five bits of rs2 count
    [InlineData("sll", 1u, 33u, 2u)]
    [InlineData("sll", 3u, 0xFFFFFFFFu, 0x80000000u)] // shift by 31
    [InlineData("srl", 0x80000000u, 31u, 1u)]
    [InlineData("srl", 0x80000000u, 0xFFFFFFE1u, 0x40000000u)]
    [InlineData("srl", 0x80000000u, 64u, 0x80000000u)]
    [InlineData("sra", 0x80000000u, 31u, 0xFFFFFFFFu)]
    [InlineData("sra", 0x80000000u, 33u, 0xC0000000u)]
    [InlineData("sra", 0x40000000u, 30u, 1u)]         // positive values shift in zeroes
    [InlineData("sra", 0xFFFFFF00u, 4u, 0xFFFFFFF0u)]
    public void Register_shifts_use_the_low_five_bits(string op, uint a, uint b, uint expected) => Assert.Equal(expected, RegOp(op, a, b));

    [Theory]
    [InlineData("mul", 6u, 7u, 42u)]
    [InlineData("mul", 0x80000000u, 2u, 0u)]
    [InlineData("mul", 0xFFFFFFFFu, 0xFFFFFFFFu, 1u)]
    [InlineData("mul", 0x12345678u, 0x9ABCDEF0u, 0x242D2080u)]
    [InlineData("mulh", 0xFFFFFFFFu, 0xFFFFFFFFu, 0u)]           // (-1)(-1) = 1
    [InlineData("mulh", 0x80000000u, 0x80000000u, 0x40000000u)]  // 2^62
    [InlineData("mulh", 0xFFFFFFFEu, 3u, 0xFFFFFFFFu)]           // -6
    [InlineData("mulh", 0x7FFFFFFFu, 0x7FFFFFFFu, 0x3FFFFFFFu)]
    [InlineData("mulhsu", 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu)] // -1 * (2^32 - 1)
    [InlineData("mulhsu", 2u, 0xFFFFFFFFu, 1u)]
    [InlineData("mulhsu", 0x80000000u, 0x80000000u, 0xC0000000u)] // -2^31 * 2^31 = -2^62
    [InlineData("mulhsu", 0x80000000u, 1u, 0xFFFFFFFFu)]
    [InlineData("mulhu", 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFEu)]
    [InlineData("mulhu", 0x80000000u, 2u, 1u)]
    [InlineData("mulhu", 0x80000000u, 0x80000000u, 0x40000000u)]
    public void Multiplications_and_their_high_halves(string op, uint a, uint b, uint expected) => Assert.Equal(expected, RegOp(op, a, b));

    [Theory]
    [InlineData("div", 7u, 2u, 3u)]
    [InlineData("div", 0xFFFFFFF9u, 2u, 0xFFFFFFFDu)]        // -7 / 2 = -3 (truncates toward zero)
    [InlineData("div", 7u, 0xFFFFFFFEu, 0xFFFFFFFDu)]        // 7 / -2 = -3
    [InlineData("div", 7u, 0u, 0xFFFFFFFFu)]                 // by zero: -1
    [InlineData("div", 0xFFFFFFF9u, 0u, 0xFFFFFFFFu)]
    [InlineData("div", 0x80000000u, 0xFFFFFFFFu, 0x80000000u)] // INT_MIN / -1 overflows to INT_MIN
    [InlineData("rem", 7u, 2u, 1u)]
    [InlineData("rem", 0xFFFFFFF9u, 2u, 0xFFFFFFFFu)]        // -7 % 2 = -1 (sign of the dividend)
    [InlineData("rem", 7u, 0xFFFFFFFEu, 1u)]
    [InlineData("rem", 7u, 0u, 7u)]                          // by zero: the dividend
    [InlineData("rem", 0xFFFFFFF9u, 0u, 0xFFFFFFF9u)]
    [InlineData("rem", 0x80000000u, 0xFFFFFFFFu, 0u)]        // INT_MIN % -1 = 0
    [InlineData("divu", 7u, 0u, 0xFFFFFFFFu)]
    [InlineData("divu", 0xFFFFFFFEu, 2u, 0x7FFFFFFFu)]
    [InlineData("divu", 0x80000000u, 0xFFFFFFFFu, 0u)]
    [InlineData("remu", 7u, 0u, 7u)]
    [InlineData("remu", 0xFFFFFFFFu, 10u, 5u)]
    [InlineData("remu", 0x80000000u, 0xFFFFFFFFu, 0x80000000u)]
    public void Division_edge_cases_follow_the_spec(string op, uint a, uint b, uint expected) => Assert.Equal(expected, RegOp(op, a, b));

    [Theory]
    [InlineData("addi", 5u, -1, 4u)]
    [InlineData("addi", 0u, -2048, 0xFFFFF800u)]
    [InlineData("addi", 1u, 2047, 2048u)]
    [InlineData("slti", 0xFFFFFFFEu, -1, 1u)]
    [InlineData("slti", 0u, -1, 0u)]
    [InlineData("sltiu", 5u, -1, 1u)]        // the immediate is sign-extended, then compared unsigned
    [InlineData("sltiu", 0xFFFFFFFFu, -1, 0u)]
    [InlineData("sltiu", 0u, 1, 1u)]
    [InlineData("xori", 0x12345678u, -1, 0xEDCBA987u)]
    [InlineData("ori", 0x00000001u, -16, 0xFFFFFFF1u)]
    [InlineData("andi", 0x12345678u, -16, 0x12345670u)]
    [InlineData("andi", 0x12345678u, 0xFF, 0x78u)]
    [InlineData("slli", 1u, 31, 0x80000000u)]
    [InlineData("srli", 0x80000000u, 31, 1u)]
    [InlineData("srai", 0x80000000u, 31, 0xFFFFFFFFu)]
    [InlineData("srai", 0x7FFFFFFFu, 30, 1u)]
    public void Immediate_ops(string op, uint a, int imm, uint expected)
    {
        uint instruction = op switch
        {
            "addi" => Addi(A0, A1, imm), "slti" => Slti(A0, A1, imm), "sltiu" => Sltiu(A0, A1, imm),
            "xori" => Xori(A0, A1, imm), "ori" => Ori(A0, A1, imm), "andi" => Andi(A0, A1, imm),
            "slli" => Slli(A0, A1, imm), "srli" => Srli(A0, A1, imm), "srai" => Srai(A0, A1, imm),
            _ => throw new ArgumentException(op),
        };
        Assert.Equal(expected, Step(instruction, (A1, a))[A0]);
    }

    [Fact]
    public void Lui_and_auipc()
    {
        var machine = new Prog
        {
            Lui(A0, 0xFFFFF000),
            Nop(),
            Auipc(A1, 0x12345000),
            Auipc(A2, 0),
            Auipc(A3, 0x80000000), // wraps around
        }.Load();
        Assert.Equal(StopReason.Budget, machine.Run(5));
        Assert.Equal(0xFFFFF000u, machine[A0]);
        Assert.Equal(Prog.At(2) + 0x12345000u, machine[A1]);
        Assert.Equal(Prog.At(3), machine[A2]);
        Assert.Equal(Prog.At(4) + 0x80000000u, machine[A3]);
    }

    [Fact]
    public void Byte_and_halfword_loads_sign_or_zero_extend()
    {
        var machine = new Prog
        {
            Lb(A0, T0, 0), Lbu(A1, T0, 0), Lh(A2, T0, 0), Lhu(A3, T0, 0),
            Lb(A4, T0, 2), Lh(A5, T0, 2), Lw(T1, T0, 0), Lh(T2, T0, -2),
        }.Load();
        Assert.True(machine.TryWriteRam(Data - 2, [0x34, 0x92, 0x80, 0xFF, 0x7F, 0x01]));
        machine.SetRegister(T0, Data);
        Assert.Equal(StopReason.Budget, machine.Run(8));
        Assert.Equal(0xFFFFFF80u, machine[A0]);
        Assert.Equal(0x80u, machine[A1]);
        Assert.Equal(0xFFFFFF80u, machine[A2]);
        Assert.Equal(0xFF80u, machine[A3]);
        Assert.Equal(0x7Fu, machine[A4]);
        Assert.Equal(0x017Fu, machine[A5]);
        Assert.Equal(0x017FFF80u, machine[T1]);
        Assert.Equal(0xFFFF9234u, machine[T2]); // negative offset
    }

    [Fact]
    public void Stores_write_only_their_width()
    {
        var machine = new Prog { Sw(A1, T0, 0), Sh(A2, T0, 4), Sb(A3, T0, 8) }.Load();
        Assert.True(machine.TryWriteRam(Data, Enumerable.Repeat((byte)0xEE, 12).ToArray()));
        machine.SetRegister(T0, Data);
        machine.SetRegister(A1, 0x11223344);
        machine.SetRegister(A2, 0xAABBCCDD);
        machine.SetRegister(A3, 0x12345678);
        Assert.Equal(StopReason.Budget, machine.Run(3));
        var bytes = new byte[12];
        Assert.True(machine.TryReadRam(Data, bytes));
        Assert.Equal(new byte[] { 0x44, 0x33, 0x22, 0x11, 0xDD, 0xCC, 0xEE, 0xEE, 0x78, 0xEE, 0xEE, 0xEE }, bytes);
    }

    [Fact]
    public void Misaligned_word_accesses_work_within_and_across_pages()
    {
        const uint pageEnd = Prog.Base + 0x3000; // pages 2 and 3 meet here
        var machine = new Prog
        {
            Lw(A0, T0, 1),          // misaligned, inside a page
            Sw(A1, T1, -1),         // bytes 0x2FFF..0x3002: straddles two pages
            Lw(A2, T1, -2),         // bytes 0x2FFE..0x3001
            Sh(A1, T1, -1),         // halfword across the boundary
            Lhu(A3, T1, -1),
        }.Load();
        Assert.True(machine.TryWriteRam(Data, [0x10, 0x20, 0x30, 0x40, 0x50, 0x60]));
        machine.SetRegister(T0, Data);
        machine.SetRegister(T1, pageEnd);
        machine.SetRegister(A1, 0xAABBCCDD);
        machine.ClearDirtyPages();

        Assert.Equal(StopReason.Budget, machine.Run(3));
        Assert.Null(machine.Fault);
        Assert.Equal(0x50403020u, machine[A0]);
        var bytes = new byte[6];
        Assert.True(machine.TryReadRam(pageEnd - 2, bytes));
        Assert.Equal(new byte[] { 0x00, 0xDD, 0xCC, 0xBB, 0xAA, 0x00 }, bytes);
        Assert.Equal(0xBBCCDD00u, machine[A2]);
        Assert.Equal([2, 3], machine.DirtyPages().ToArray());

        machine.SetRegister(A1, 0x1234);
        Assert.Equal(StopReason.Budget, machine.Run(2));
        Assert.Equal(0x1234u, machine[A3]);
    }

    [Fact]
    public void Writes_to_x0_are_discarded()
    {
        var machine = new Prog
        {
            Addi(Zero, Zero, 5),
            Lui(Zero, 0x12345000),
            Lw(Zero, T0, 0),
            Jal(Zero, 4),
            Csrrs(Zero, Mscratch, Zero),
            Add(A0, Zero, Zero),
            Addi(A1, Zero, 9),
        }.Load();
        Assert.True(machine.TryWriteRam(Data, [1, 2, 3, 4]));
        machine.SetRegister(T0, Data);
        machine.SetRegister(Zero, 77);
        machine.SetRegister(A0, 123);
        Assert.Equal(StopReason.Budget, machine.Run(7));
        Assert.Equal(0u, machine[Zero]);
        Assert.Equal(0u, machine[A0]);
        Assert.Equal(9u, machine[A1]);
    }

    [Fact]
    public void Jal_links_and_jumps_both_ways()
    {
        var machine = new Prog
        {
            Jal(Ra, 12),        // 0: -> 3
            Nop(),              // 1
            Jal(A1, 12),        // 2: -> 5 (reached from 4)
            Jal(A0, -4),        // 3: -> 2
            Nop(),              // 4
            Nop(),              // 5
        }.Load();
        Assert.Equal(StopReason.Budget, machine.Run(1));
        Assert.Equal(Prog.At(3), machine.Pc);
        Assert.Equal(Prog.At(1), machine[Ra]);
        Assert.Equal(StopReason.Budget, machine.Run(2));
        Assert.Equal(Prog.At(5), machine.Pc);
        Assert.Equal(Prog.At(4), machine[A0]);
        Assert.Equal(Prog.At(3), machine[A1]);
    }

    [Fact]
    public void Jalr_clears_bit_zero_and_links_after_reading_its_source()
    {
        var machine = new Prog { Jalr(Ra, A1, 1) }.Load();
        machine.SetRegister(A1, Prog.At(16));
        Assert.Equal(StopReason.Budget, machine.Run(1));
        Assert.Null(machine.Fault);
        Assert.Equal(Prog.At(16), machine.Pc);   // target At(16) + 1 with bit 0 cleared
        Assert.Equal(Prog.At(1), machine[Ra]);

        var same = new Prog { Jalr(A1, A1, -4) }.Load();
        same.SetRegister(A1, Prog.At(9));
        Assert.Equal(StopReason.Budget, same.Run(1));
        Assert.Equal(Prog.At(8), same.Pc);
        Assert.Equal(Prog.At(1), same[A1]);
    }

    [Theory]
    [InlineData("beq", 5u, 5u, true)]
    [InlineData("beq", 5u, 6u, false)]
    [InlineData("bne", 5u, 6u, true)]
    [InlineData("bne", 5u, 5u, false)]
    [InlineData("blt", 0xFFFFFFFFu, 0u, true)]   // -1 < 0 signed
    [InlineData("blt", 0u, 0xFFFFFFFFu, false)]
    [InlineData("blt", 3u, 3u, false)]
    [InlineData("bge", 3u, 3u, true)]
    [InlineData("bge", 0xFFFFFFFFu, 0u, false)]
    [InlineData("bge", 0x7FFFFFFFu, 0x80000000u, true)]
    [InlineData("bltu", 0u, 0xFFFFFFFFu, true)]
    [InlineData("bltu", 0xFFFFFFFFu, 0u, false)]
    [InlineData("bgeu", 0xFFFFFFFFu, 0u, true)]
    [InlineData("bgeu", 0u, 1u, false)]
    public void Branches_taken_and_not_taken(string op, uint a, uint b, bool taken)
    {
        foreach (int offset in new[] { 16, -8 })
        {
            uint instruction = op switch
            {
                "beq" => Beq(A1, A2, offset), "bne" => Bne(A1, A2, offset), "blt" => Blt(A1, A2, offset),
                "bge" => Bge(A1, A2, offset), "bltu" => Bltu(A1, A2, offset), "bgeu" => Bgeu(A1, A2, offset),
                _ => throw new ArgumentException(op),
            };
            var machine = new Prog { Nop(), Nop(), Nop(), instruction }.Load();
            machine.Pc = Prog.At(3);
            machine.SetRegister(A1, a);
            machine.SetRegister(A2, b);
            Assert.Equal(StopReason.Budget, machine.Run(1));
            uint expected = taken ? (uint)(Prog.At(3) + offset) : Prog.At(4);
            Assert.Equal(expected, machine.Pc);
        }
    }

    [Theory]
    [InlineData("jal")]
    [InlineData("jalr")]
    [InlineData("beq")]
    public void Misaligned_jump_targets_trap_with_cause_0(string kind)
    {
        uint instruction = kind switch
        {
            "jal" => Jal(Ra, 6),
            "jalr" => Jalr(Ra, A1, 2),
            _ => Beq(Zero, Zero, 6),
        };
        var machine = new Prog { Nop(), instruction }.Load();
        machine.SetRegister(A1, Prog.At(4));
        Assert.Equal(StopReason.Faulted, machine.Run(10));
        uint target = kind == "jalr" ? Prog.At(4) + 2 : Prog.At(1) + 6;
        Assert.Equal(new GuestFault(Prog.At(1), TrapCause.InstructionMisaligned, target), machine.Fault);
        Assert.Equal(0u, machine[Ra]); // the link register is not written
        Assert.Equal(2UL, machine.Position);
        Assert.True(machine.IsHalted);
    }

    [Fact]
    public void A_branch_not_taken_to_a_misaligned_target_does_not_trap()
    {
        var machine = new Prog { Bne(Zero, Zero, 6), Nop() }.Load();
        Assert.Equal(StopReason.Budget, machine.Run(2));
        Assert.Null(machine.Fault);
        Assert.Equal(Prog.At(2), machine.Pc);
    }

    [Fact]
    public void A_loop_runs_to_completion()
    {
        // Sum 1..100 with a backward branch.
        var machine = new Prog
        {
            Addi(A0, Zero, 0),
            Addi(A1, Zero, 100),
            Add(A0, A0, A1),        // 2
            Addi(A1, A1, -1),
            Bne(A1, Zero, -8),      // -> 2
            Prog.Pass(),
        }.Load();
        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine));
        Assert.Equal(5050u, machine[A0]);
        Assert.Equal(0, machine.ExitCode);
        Assert.Equal(2UL + 100 * 3 + 5, machine.Position);
    }

    [Fact]
    public void Code_modified_by_a_store_is_decoded_again()
    {
        var machine = new Prog
        {
            Li(T0, Prog.Base),                 // 0, 1
            Li(T1, Addi(A0, A0, 100)),         // 2, 3
            Addi(A0, A0, 1),                   // 4: rewritten after its first run
            Bne(A1, Zero, 16),                 // 5: second time round -> 9
            Sw(T1, T0, 16),                    // 6: patch instruction 4
            Addi(A1, Zero, 1),                 // 7
            Jal(Zero, -16),                    // 8: -> 4
            Prog.Pass(),                       // 9
        }.Load();
        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine));
        Assert.Equal(101u, machine[A0]);
    }

    [Fact]
    public void Code_replaced_by_the_host_is_decoded_again()
    {
        var machine = new Prog { Addi(A0, Zero, 1) }.Load();
        Assert.Equal(StopReason.Budget, machine.Run(1));
        Assert.Equal(1u, machine[A0]);
        Assert.True(machine.TryWriteRam(Prog.Base, BitConverter.GetBytes(Addi(A0, Zero, 2))));
        machine.Pc = Prog.Base;
        Assert.Equal(StopReason.Budget, machine.Run(1));
        Assert.Equal(2u, machine[A0]);
    }

    [Fact]
    public void Fence_is_a_no_op()
    {
        var machine = Step(Fence());
        Assert.Equal(Prog.At(1), machine.Pc);
    }
}
