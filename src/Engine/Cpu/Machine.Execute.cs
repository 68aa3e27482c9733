using System.Runtime.CompilerServices;

namespace Lockstep.Engine.Cpu;

/// <summary>
/// The decode-execute loop: runs until <c>end</c> or until an instruction asks to leave it. It is
/// the reference semantics: compiled code (Translation/) must match it exactly.
/// </summary>
public sealed unsafe partial class Machine
{
    /// <typeparam name="TMode">
    /// A struct, so the JIT compiles one copy per mode and the plain copy pays nothing for translation.
    /// </typeparam>
    private void Interpret<TMode>(ulong end) where TMode : struct, IInterpreterMode
    {
        uint* x = _x;
        byte* ram = _ram;
        DecodedInstruction* decoded = _decoded;
        byte* pageState = _pageState;
        uint ramSize = RamSize;
        uint pc = Pc;
        ulong n = Position;

        while (n < end)
        {
            uint fetch = pc - MemoryMap.RamBase;
            if (fetch >= ramSize)
            {
                n++;
                pc = TrapAt(pc, n, TrapCause.InstructionAccessFault, pc);
                if (_exitRequested) break;
                continue;
            }
            DecodedInstruction* d = decoded + (fetch >> 2);
            n++;
            switch (d->Op)
            {
                case Opcode.Undecoded:
                    *d = Decoder.Decode(Unsafe.ReadUnaligned<uint>(ram + fetch));
                    _pageState[fetch >> MemoryMap.PageShift] |= PageCode;
                    n--;
                    continue;

                case Opcode.Addi: x[d->Rd] = x[d->Rs1] + (uint)d->Imm; pc += 4; continue;
                case Opcode.Lui: x[d->Rd] = (uint)d->Imm; pc += 4; continue;
                case Opcode.Auipc: x[d->Rd] = pc + (uint)d->Imm; pc += 4; continue;
                case Opcode.Slti: x[d->Rd] = (int)x[d->Rs1] < d->Imm ? 1u : 0u; pc += 4; continue;
                case Opcode.Sltiu: x[d->Rd] = x[d->Rs1] < (uint)d->Imm ? 1u : 0u; pc += 4; continue;
                case Opcode.Xori: x[d->Rd] = x[d->Rs1] ^ (uint)d->Imm; pc += 4; continue;
                case Opcode.Ori: x[d->Rd] = x[d->Rs1] | (uint)d->Imm; pc += 4; continue;
                case Opcode.Andi: x[d->Rd] = x[d->Rs1] & (uint)d->Imm; pc += 4; continue;
                case Opcode.Slli: x[d->Rd] = x[d->Rs1] << d->Imm; pc += 4; continue;
                case Opcode.Srli: x[d->Rd] = x[d->Rs1] >> d->Imm; pc += 4; continue;
                case Opcode.Srai: x[d->Rd] = (uint)((int)x[d->Rs1] >> d->Imm); pc += 4; continue;

                case Opcode.Add: x[d->Rd] = x[d->Rs1] + x[d->Rs2]; pc += 4; continue;
                case Opcode.Sub: x[d->Rd] = x[d->Rs1] - x[d->Rs2]; pc += 4; continue;
                case Opcode.Sll: x[d->Rd] = x[d->Rs1] << (int)(x[d->Rs2] & 31); pc += 4; continue;
                case Opcode.Slt: x[d->Rd] = (int)x[d->Rs1] < (int)x[d->Rs2] ? 1u : 0u; pc += 4; continue;
                case Opcode.Sltu: x[d->Rd] = x[d->Rs1] < x[d->Rs2] ? 1u : 0u; pc += 4; continue;
                case Opcode.Xor: x[d->Rd] = x[d->Rs1] ^ x[d->Rs2]; pc += 4; continue;
                case Opcode.Srl: x[d->Rd] = x[d->Rs1] >> (int)(x[d->Rs2] & 31); pc += 4; continue;
                case Opcode.Sra: x[d->Rd] = (uint)((int)x[d->Rs1] >> (int)(x[d->Rs2] & 31)); pc += 4; continue;
                case Opcode.Or: x[d->Rd] = x[d->Rs1] | x[d->Rs2]; pc += 4; continue;
                case Opcode.And: x[d->Rd] = x[d->Rs1] & x[d->Rs2]; pc += 4; continue;

                case Opcode.Mul: x[d->Rd] = x[d->Rs1] * x[d->Rs2]; pc += 4; continue;
                case Opcode.Mulh: x[d->Rd] = (uint)(((long)(int)x[d->Rs1] * (int)x[d->Rs2]) >> 32); pc += 4; continue;
                case Opcode.Mulhsu: x[d->Rd] = (uint)(((long)(int)x[d->Rs1] * (long)x[d->Rs2]) >> 32); pc += 4; continue;
                case Opcode.Mulhu: x[d->Rd] = (uint)(((ulong)x[d->Rs1] * x[d->Rs2]) >> 32); pc += 4; continue;
                case Opcode.Div: x[d->Rd] = Arithmetic.Div(x[d->Rs1], x[d->Rs2]); pc += 4; continue;
                case Opcode.Divu: x[d->Rd] = Arithmetic.Divu(x[d->Rs1], x[d->Rs2]); pc += 4; continue;
                case Opcode.Rem: x[d->Rd] = Arithmetic.Rem(x[d->Rs1], x[d->Rs2]); pc += 4; continue;
                case Opcode.Remu: x[d->Rd] = Arithmetic.Remu(x[d->Rs1], x[d->Rs2]); pc += 4; continue;

                case Opcode.Jal:
                {
                    uint target = pc + (uint)d->Imm;
                    if ((target & 3) != 0) { pc = TrapAt(pc, n, TrapCause.InstructionMisaligned, target); break; }
                    x[d->Rd] = pc + 4;
                    pc = target;
                    break;
                }
                case Opcode.Jalr:
                {
                    uint target = (x[d->Rs1] + (uint)d->Imm) & ~1u;
                    if ((target & 3) != 0) { pc = TrapAt(pc, n, TrapCause.InstructionMisaligned, target); break; }
                    x[d->Rd] = pc + 4;
                    pc = target;
                    break;
                }
                case Opcode.Beq: pc = x[d->Rs1] == x[d->Rs2] ? Branch(pc, d->Imm, n) : pc + 4; break;
                case Opcode.Bne: pc = x[d->Rs1] != x[d->Rs2] ? Branch(pc, d->Imm, n) : pc + 4; break;
                case Opcode.Blt: pc = (int)x[d->Rs1] < (int)x[d->Rs2] ? Branch(pc, d->Imm, n) : pc + 4; break;
                case Opcode.Bge: pc = (int)x[d->Rs1] >= (int)x[d->Rs2] ? Branch(pc, d->Imm, n) : pc + 4; break;
                case Opcode.Bltu: pc = x[d->Rs1] < x[d->Rs2] ? Branch(pc, d->Imm, n) : pc + 4; break;
                case Opcode.Bgeu: pc = x[d->Rs1] >= x[d->Rs2] ? Branch(pc, d->Imm, n) : pc + 4; break;

                case Opcode.Lw:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset <= ramSize - 4) { x[d->Rd] = Unsafe.ReadUnaligned<uint>(ram + offset); pc += 4; continue; }
                    pc = LoadSlow(d, pc, n, 4);
                    break;
                }
                case Opcode.Lbu:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset < ramSize) { x[d->Rd] = ram[offset]; pc += 4; continue; }
                    pc = LoadSlow(d, pc, n, 1);
                    break;
                }
                case Opcode.Lb:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset < ramSize) { x[d->Rd] = (uint)(sbyte)ram[offset]; pc += 4; continue; }
                    pc = LoadSlow(d, pc, n, 1);
                    break;
                }
                case Opcode.Lhu:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset <= ramSize - 2) { x[d->Rd] = Unsafe.ReadUnaligned<ushort>(ram + offset); pc += 4; continue; }
                    pc = LoadSlow(d, pc, n, 2);
                    break;
                }
                case Opcode.Lh:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset <= ramSize - 2) { x[d->Rd] = (uint)Unsafe.ReadUnaligned<short>(ram + offset); pc += 4; continue; }
                    pc = LoadSlow(d, pc, n, 2);
                    break;
                }
                case Opcode.Sw:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset <= ramSize - 4)
                    {
                        if (pageState[offset >> MemoryMap.PageShift] == PageWritable && (offset & (MemoryMap.PageSize - 1)) <= MemoryMap.PageSize - 4)
                        {
                            Unsafe.WriteUnaligned(ram + offset, x[d->Rs2]);
                            pc += 4;
                            continue;
                        }
                        StoreRam(offset, 4, x[d->Rs2]);
                        pc += 4;
                        break;
                    }
                    pc = StoreSlow(d, pc, n, 4);
                    break;
                }
                case Opcode.Sb:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset < ramSize)
                    {
                        if (pageState[offset >> MemoryMap.PageShift] == PageWritable)
                        {
                            ram[offset] = (byte)x[d->Rs2];
                            pc += 4;
                            continue;
                        }
                        StoreRam(offset, 1, x[d->Rs2]);
                        pc += 4;
                        break;
                    }
                    pc = StoreSlow(d, pc, n, 1);
                    break;
                }
                case Opcode.Sh:
                {
                    uint offset = x[d->Rs1] + (uint)d->Imm - MemoryMap.RamBase;
                    if (offset <= ramSize - 2)
                    {
                        if (pageState[offset >> MemoryMap.PageShift] == PageWritable && (offset & (MemoryMap.PageSize - 1)) <= MemoryMap.PageSize - 2)
                        {
                            Unsafe.WriteUnaligned(ram + offset, (ushort)x[d->Rs2]);
                            pc += 4;
                            continue;
                        }
                        StoreRam(offset, 2, x[d->Rs2]);
                        pc += 4;
                        break;
                    }
                    pc = StoreSlow(d, pc, n, 2);
                    break;
                }

                case Opcode.Fence: pc += 4; continue;
                case Opcode.Ecall: pc = TrapAt(pc, n, TrapCause.EcallFromM, 0); break;
                case Opcode.Ebreak: pc = TrapAt(pc, n, TrapCause.Breakpoint, 0); break;
                case Opcode.Illegal: pc = TrapAt(pc, n, TrapCause.IllegalInstruction, (uint)d->Imm); break;
                case Opcode.Mret:
                    pc = _mepc;
                    _mstatusMie = _mstatusMpie;
                    _mstatusMpie = true;
                    _exitRequested = true;
                    break;
                case Opcode.Wfi:
                    pc += 4;
                    if ((PendingInterrupts & _mie) == 0) IsWaiting = true;
                    _exitRequested = true;
                    break;
                default: // CSR instructions
                    pc = ExecuteCsr(d, pc, n);
                    break;
            }
            if (_exitRequested) break;
            // Jump targets are where translated regions start: leave so the dispatcher can run one.
            if (TMode.StopsAtTranslations && (uint)(d->Op - Opcode.Jal) <= Opcode.Bgeu - Opcode.Jal && _translations.Enter(this, pc)) break;
        }
        Pc = pc;
        Position = n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private uint Branch(uint pc, int imm, ulong n)
    {
        uint target = pc + (uint)imm;
        return (target & 3) == 0 ? target : TrapAt(pc, n, TrapCause.InstructionMisaligned, target);
    }

    /// <summary>Takes a synchronous trap for the instruction at <paramref name="pc"/> (already counted in <paramref name="n"/>).</summary>
    private uint TrapAt(uint pc, ulong n, uint cause, uint tval)
    {
        Position = n - 1;
        Pc = pc;
        return EnterTrap(pc, cause, tval);
    }

    private uint LoadSlow(DecodedInstruction* d, uint pc, ulong n, int size)
    {
        Position = n - 1;
        Pc = pc;
        uint address = _x[d->Rs1] + (uint)d->Imm;
        if (!TryLoad(address, size, out uint value)) return EnterTrap(pc, TrapCause.LoadAccessFault, address);
        if (_trapRaised) return TakeRaisedTrap(pc);
        _x[d->Rd] = d->Op switch
        {
            Opcode.Lb => (uint)(sbyte)value,
            Opcode.Lh => (uint)(short)value,
            _ => value,
        };
        return pc + 4;
    }

    private uint StoreSlow(DecodedInstruction* d, uint pc, ulong n, int size)
    {
        Position = n - 1;
        Pc = pc;
        uint address = _x[d->Rs1] + (uint)d->Imm;
        if (!TryStore(address, size, _x[d->Rs2])) return EnterTrap(pc, TrapCause.StoreAccessFault, address);
        if (_trapRaised) return TakeRaisedTrap(pc);
        return pc + 4;
    }
}
