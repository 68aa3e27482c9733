namespace Lockstep.Engine.Tests;

/// <summary>
/// A tiny RV32IM + Zicsr encoder for hand-written test programs. Register arguments are
/// indices 0..31; immediates are the architectural values (byte offsets for jumps and branches).
/// </summary>
public static class Asm
{
    // Register names used in tests, for readability.
    public const int Zero = 0, Ra = 1, Sp = 2, T0 = 5, T1 = 6, T2 = 7, A0 = 10, A1 = 11, A2 = 12, A3 = 13, A4 = 14, A5 = 15;

    // CSR numbers.
    public const uint Mstatus = 0x300, Misa = 0x301, Mie = 0x304, Mtvec = 0x305, Mscratch = 0x340, Mepc = 0x341,
        Mcause = 0x342, Mtval = 0x343, Mip = 0x344, Mcycle = 0xB00, Minstret = 0xB02, Mcycleh = 0xB80, Minstreth = 0xB82,
        Cycle = 0xC00, Time = 0xC01, Instret = 0xC02, Timeh = 0xC81, Mvendorid = 0xF11, Mhartid = 0xF14;

    private const uint OpLui = 0x37, OpAuipc = 0x17, OpJal = 0x6F, OpJalr = 0x67, OpBranch = 0x63, OpLoad = 0x03,
        OpStore = 0x23, OpImm = 0x13, OpReg = 0x33, OpFence = 0x0F, OpSystem = 0x73;

    public static uint R(uint funct7, int rs2, int rs1, uint funct3, int rd, uint opcode) =>
        (funct7 << 25) | (Reg(rs2) << 20) | (Reg(rs1) << 15) | (funct3 << 12) | (Reg(rd) << 7) | opcode;

    public static uint I(int imm, int rs1, uint funct3, int rd, uint opcode)
    {
        CheckSigned(imm, 12);
        return ((uint)(imm & 0xFFF) << 20) | (Reg(rs1) << 15) | (funct3 << 12) | (Reg(rd) << 7) | opcode;
    }

    public static uint S(int imm, int rs2, int rs1, uint funct3, uint opcode)
    {
        CheckSigned(imm, 12);
        uint u = (uint)imm;
        return (((u >> 5) & 0x7F) << 25) | (Reg(rs2) << 20) | (Reg(rs1) << 15) | (funct3 << 12) | ((u & 0x1F) << 7) | opcode;
    }

    public static uint B(int offset, int rs2, int rs1, uint funct3)
    {
        CheckSigned(offset, 13);
        if ((offset & 1) != 0) throw new ArgumentException("branch offsets are even", nameof(offset));
        uint u = (uint)offset;
        return (((u >> 12) & 1) << 31) | (((u >> 5) & 0x3F) << 25) | (Reg(rs2) << 20) | (Reg(rs1) << 15)
            | (funct3 << 12) | (((u >> 1) & 0xF) << 8) | (((u >> 11) & 1) << 7) | OpBranch;
    }

    public static uint U(uint upper, int rd, uint opcode) => (upper & 0xFFFFF000) | (Reg(rd) << 7) | opcode;

    // ---- RV32I ----------------------------------------------------------------------------

    public static uint Lui(int rd, uint upper) => U(upper, rd, OpLui);
    public static uint Auipc(int rd, uint upper) => U(upper, rd, OpAuipc);

    public static uint Jal(int rd, int offset)
    {
        CheckSigned(offset, 21);
        if ((offset & 1) != 0) throw new ArgumentException("jump offsets are even", nameof(offset));
        uint u = (uint)offset;
        return (((u >> 20) & 1) << 31) | (((u >> 1) & 0x3FF) << 21) | (((u >> 11) & 1) << 20) | (((u >> 12) & 0xFF) << 12)
            | (Reg(rd) << 7) | OpJal;
    }

    public static uint Jalr(int rd, int rs1, int imm) => I(imm, rs1, 0, rd, OpJalr);

    public static uint Beq(int rs1, int rs2, int offset) => B(offset, rs2, rs1, 0);
    public static uint Bne(int rs1, int rs2, int offset) => B(offset, rs2, rs1, 1);
    public static uint Blt(int rs1, int rs2, int offset) => B(offset, rs2, rs1, 4);
    public static uint Bge(int rs1, int rs2, int offset) => B(offset, rs2, rs1, 5);
    public static uint Bltu(int rs1, int rs2, int offset) => B(offset, rs2, rs1, 6);
    public static uint Bgeu(int rs1, int rs2, int offset) => B(offset, rs2, rs1, 7);

    public static uint Lb(int rd, int rs1, int imm) => I(imm, rs1, 0, rd, OpLoad);
    public static uint Lh(int rd, int rs1, int imm) => I(imm, rs1, 1, rd, OpLoad);
    public static uint Lw(int rd, int rs1, int imm) => I(imm, rs1, 2, rd, OpLoad);
    public static uint Lbu(int rd, int rs1, int imm) => I(imm, rs1, 4, rd, OpLoad);
    public static uint Lhu(int rd, int rs1, int imm) => I(imm, rs1, 5, rd, OpLoad);

    public static uint Sb(int rs2, int rs1, int imm) => S(imm, rs2, rs1, 0, OpStore);
    public static uint Sh(int rs2, int rs1, int imm) => S(imm, rs2, rs1, 1, OpStore);
    public static uint Sw(int rs2, int rs1, int imm) => S(imm, rs2, rs1, 2, OpStore);

    public static uint Addi(int rd, int rs1, int imm) => I(imm, rs1, 0, rd, OpImm);
    public static uint Slti(int rd, int rs1, int imm) => I(imm, rs1, 2, rd, OpImm);
    public static uint Sltiu(int rd, int rs1, int imm) => I(imm, rs1, 3, rd, OpImm);
    public static uint Xori(int rd, int rs1, int imm) => I(imm, rs1, 4, rd, OpImm);
    public static uint Ori(int rd, int rs1, int imm) => I(imm, rs1, 6, rd, OpImm);
    public static uint Andi(int rd, int rs1, int imm) => I(imm, rs1, 7, rd, OpImm);
    public static uint Slli(int rd, int rs1, int shamt) => R(0, Shamt(shamt), rs1, 1, rd, OpImm);
    public static uint Srli(int rd, int rs1, int shamt) => R(0, Shamt(shamt), rs1, 5, rd, OpImm);
    public static uint Srai(int rd, int rs1, int shamt) => R(0x20, Shamt(shamt), rs1, 5, rd, OpImm);

    public static uint Add(int rd, int rs1, int rs2) => R(0, rs2, rs1, 0, rd, OpReg);
    public static uint Sub(int rd, int rs1, int rs2) => R(0x20, rs2, rs1, 0, rd, OpReg);
    public static uint Sll(int rd, int rs1, int rs2) => R(0, rs2, rs1, 1, rd, OpReg);
    public static uint Slt(int rd, int rs1, int rs2) => R(0, rs2, rs1, 2, rd, OpReg);
    public static uint Sltu(int rd, int rs1, int rs2) => R(0, rs2, rs1, 3, rd, OpReg);
    public static uint Xor(int rd, int rs1, int rs2) => R(0, rs2, rs1, 4, rd, OpReg);
    public static uint Srl(int rd, int rs1, int rs2) => R(0, rs2, rs1, 5, rd, OpReg);
    public static uint Sra(int rd, int rs1, int rs2) => R(0x20, rs2, rs1, 5, rd, OpReg);
    public static uint Or(int rd, int rs1, int rs2) => R(0, rs2, rs1, 6, rd, OpReg);
    public static uint And(int rd, int rs1, int rs2) => R(0, rs2, rs1, 7, rd, OpReg);

    // ---- M extension -----------------------------------------------------------------------

    public static uint Mul(int rd, int rs1, int rs2) => R(1, rs2, rs1, 0, rd, OpReg);
    public static uint Mulh(int rd, int rs1, int rs2) => R(1, rs2, rs1, 1, rd, OpReg);
    public static uint Mulhsu(int rd, int rs1, int rs2) => R(1, rs2, rs1, 2, rd, OpReg);
    public static uint Mulhu(int rd, int rs1, int rs2) => R(1, rs2, rs1, 3, rd, OpReg);
    public static uint Div(int rd, int rs1, int rs2) => R(1, rs2, rs1, 4, rd, OpReg);
    public static uint Divu(int rd, int rs1, int rs2) => R(1, rs2, rs1, 5, rd, OpReg);
    public static uint Rem(int rd, int rs1, int rs2) => R(1, rs2, rs1, 6, rd, OpReg);
    public static uint Remu(int rd, int rs1, int rs2) => R(1, rs2, rs1, 7, rd, OpReg);

    // ---- System ----------------------------------------------------------------------------

    public static uint Fence() => 0x0FF0000F;
    public static uint Ecall() => 0x00000073;
    public static uint Ebreak() => 0x00100073;
    public static uint Mret() => 0x30200073;
    public static uint Wfi() => 0x10500073;
    public static uint Nop() => Addi(0, 0, 0);

    public static uint Csrrw(int rd, uint csr, int rs1) => Csr(csr, (uint)Reg(rs1), 1, rd);
    public static uint Csrrs(int rd, uint csr, int rs1) => Csr(csr, (uint)Reg(rs1), 2, rd);
    public static uint Csrrc(int rd, uint csr, int rs1) => Csr(csr, (uint)Reg(rs1), 3, rd);
    public static uint Csrrwi(int rd, uint csr, uint uimm) => Csr(csr, Uimm(uimm), 5, rd);
    public static uint Csrrsi(int rd, uint csr, uint uimm) => Csr(csr, Uimm(uimm), 6, rd);
    public static uint Csrrci(int rd, uint csr, uint uimm) => Csr(csr, Uimm(uimm), 7, rd);

    /// <summary>csrr rd, csr (csrrs rd, csr, x0).</summary>
    public static uint Csrr(int rd, uint csr) => Csrrs(rd, csr, 0);

    /// <summary>csrw csr, rs1 (csrrw x0, csr, rs1).</summary>
    public static uint Csrw(uint csr, int rs1) => Csrrw(0, csr, rs1);

    /// <summary>Loads any 32-bit constant: lui + addi (always two instructions, so offsets stay predictable).</summary>
    public static uint[] Li(int rd, uint value)
    {
        uint upper = (value + 0x800) & 0xFFFFF000;
        int lower = (int)(value - upper);
        return [Lui(rd, upper), Addi(rd, rd, lower)];
    }

    private static uint Csr(uint csr, uint source, uint funct3, int rd)
    {
        if (csr > 0xFFF) throw new ArgumentOutOfRangeException(nameof(csr));
        return (csr << 20) | (source << 15) | (funct3 << 12) | (Reg(rd) << 7) | OpSystem;
    }

    private static uint Reg(int r) =>
        r is >= 0 and < 32 ? (uint)r : throw new ArgumentOutOfRangeException(nameof(r), $"no register x{r}");

    private static int Shamt(int shamt) =>
        shamt is >= 0 and < 32 ? shamt : throw new ArgumentOutOfRangeException(nameof(shamt));

    private static uint Uimm(uint uimm) => uimm < 32 ? uimm : throw new ArgumentOutOfRangeException(nameof(uimm));

    private static void CheckSigned(int value, int bits)
    {
        int limit = 1 << (bits - 1);
        if (value < -limit || value >= limit)
            throw new ArgumentOutOfRangeException(nameof(value), $"{value} does not fit in {bits} signed bits");
    }
}
