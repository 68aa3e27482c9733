namespace Lockstep.Engine.Cpu;

/// <summary>RV32IM + Zicsr decoder: raw instruction bits to <see cref="DecodedInstruction"/>.</summary>
internal static class Decoder
{
    /// <summary>Register index that absorbs writes to x0 (the register file has 33 slots).</summary>
    public const byte SinkRegister = 32;

    public static DecodedInstruction Decode(uint bits)
    {
        var d = new DecodedInstruction
        {
            Rd = Rd(bits),
            Rs1 = (byte)((bits >> 15) & 31),
            Rs2 = (byte)((bits >> 20) & 31),
        };
        if (d.Rd == 0) d.Rd = SinkRegister;
        uint funct3 = (bits >> 12) & 7;
        uint funct7 = bits >> 25;
        switch (bits & 0x7F)
        {
            case 0x37: d.Op = Opcode.Lui; d.Imm = (int)(bits & 0xFFFFF000); return d;
            case 0x17: d.Op = Opcode.Auipc; d.Imm = (int)(bits & 0xFFFFF000); return d;
            case 0x6F: d.Op = Opcode.Jal; d.Imm = JImm(bits); return d;
            case 0x67 when funct3 == 0: d.Op = Opcode.Jalr; d.Imm = IImm(bits); return d;
            case 0x63:
                d.Imm = BImm(bits);
                d.Op = funct3 switch
                {
                    0 => Opcode.Beq, 1 => Opcode.Bne, 4 => Opcode.Blt,
                    5 => Opcode.Bge, 6 => Opcode.Bltu, 7 => Opcode.Bgeu,
                    _ => Opcode.Illegal,
                };
                break;
            case 0x03:
                d.Imm = IImm(bits);
                d.Op = funct3 switch
                {
                    0 => Opcode.Lb, 1 => Opcode.Lh, 2 => Opcode.Lw, 4 => Opcode.Lbu, 5 => Opcode.Lhu,
                    _ => Opcode.Illegal,
                };
                break;
            case 0x23:
                d.Imm = SImm(bits);
                d.Op = funct3 switch { 0 => Opcode.Sb, 1 => Opcode.Sh, 2 => Opcode.Sw, _ => Opcode.Illegal };
                break;
            case 0x13:
                d.Imm = IImm(bits);
                d.Op = funct3 switch
                {
                    0 => Opcode.Addi, 2 => Opcode.Slti, 3 => Opcode.Sltiu, 4 => Opcode.Xori,
                    6 => Opcode.Ori, 7 => Opcode.Andi,
                    1 when funct7 == 0 => Opcode.Slli,
                    5 when funct7 == 0 => Opcode.Srli,
                    5 when funct7 == 0x20 => Opcode.Srai,
                    _ => Opcode.Illegal,
                };
                if (funct3 is 1 or 5) d.Imm &= 31;
                break;
            case 0x33:
                d.Op = (funct7, funct3) switch
                {
                    (0, 0) => Opcode.Add, (0x20, 0) => Opcode.Sub, (0, 1) => Opcode.Sll,
                    (0, 2) => Opcode.Slt, (0, 3) => Opcode.Sltu, (0, 4) => Opcode.Xor,
                    (0, 5) => Opcode.Srl, (0x20, 5) => Opcode.Sra, (0, 6) => Opcode.Or,
                    (0, 7) => Opcode.And,
                    (1, 0) => Opcode.Mul, (1, 1) => Opcode.Mulh, (1, 2) => Opcode.Mulhsu,
                    (1, 3) => Opcode.Mulhu, (1, 4) => Opcode.Div, (1, 5) => Opcode.Divu,
                    (1, 6) => Opcode.Rem, (1, 7) => Opcode.Remu,
                    _ => Opcode.Illegal,
                };
                break;
            case 0x0F when funct3 is 0 or 1: d.Op = Opcode.Fence; break;
            case 0x73: DecodeSystem(bits, funct3, ref d); break;
            default: d.Op = Opcode.Illegal; break;
        }
        if (d.Op == Opcode.Illegal) d.Imm = (int)bits;
        return d;
    }

    private static void DecodeSystem(uint bits, uint funct3, ref DecodedInstruction d)
    {
        if (funct3 == 0)
        {
            d.Op = bits switch
            {
                0x00000073 => Opcode.Ecall,
                0x00100073 => Opcode.Ebreak,
                0x30200073 => Opcode.Mret,
                0x10500073 => Opcode.Wfi,
                _ => Opcode.Illegal,
            };
            return;
        }
        d.Imm = (int)(bits >> 20);
        d.Op = funct3 switch
        {
            1 => Opcode.Csrrw, 2 => Opcode.Csrrs, 3 => Opcode.Csrrc,
            5 => Opcode.Csrrwi, 6 => Opcode.Csrrsi, 7 => Opcode.Csrrci,
            _ => Opcode.Illegal,
        };
    }

    private static byte Rd(uint bits) => (byte)((bits >> 7) & 31);
    private static int IImm(uint bits) => (int)bits >> 20;
    private static int SImm(uint bits) => ((int)bits >> 25 << 5) | (int)((bits >> 7) & 31);

    private static int BImm(uint bits) =>
        ((int)bits >> 31 << 12) | (int)(((bits >> 7) & 1) << 11) | (int)(((bits >> 25) & 0x3F) << 5) | (int)(((bits >> 8) & 0xF) << 1);

    private static int JImm(uint bits) =>
        ((int)bits >> 31 << 20) | (int)(bits & 0xFF000) | (int)(((bits >> 20) & 1) << 11) | (int)(((bits >> 21) & 0x3FF) << 1);
}
