using System.Reflection;
using System.Reflection.Emit;

namespace Lockstep.Engine.Cpu.Translation;

/// <summary>
/// Compiled guest code: runs from <paramref name="pc"/> (the start of one of its blocks) until
/// control leaves the region or the budget runs out at a block start, and returns the pc to
/// continue at.
/// </summary>
/// <param name="budget">Instructions it may execute, at most <see cref="RegionEmitter.MaxBudget"/>; on return, how many of them are left.</param>
internal delegate uint TranslatedCode(uint pc, ref ulong budget);

/// <summary>
/// Turns a <see cref="Region"/> into a DynamicMethod. Guest registers live in IL locals: loaded on
/// entry, written back on the way out. Every block first checks that the budget covers all of it,
/// and every exit in the middle of a block gives back what was not executed, so the instruction
/// count is exactly the interpreter's. Whatever compiled code cannot do exactly as the interpreter
/// would (device access, traps, stores that change code) leaves the region before that instruction,
/// or right after it, for the interpreter to carry on.
/// </summary>
internal sealed unsafe class RegionEmitter
{
    /// <summary>Budgets stay positive as signed numbers, even after a block's length is taken off.</summary>
    public const ulong MaxBudget = 1UL << 62;

    private static readonly FieldInfo PendingStore = typeof(Machine).GetField(nameof(Machine.PendingStore), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly FieldInfo CodeBases = typeof(Machine).GetField(nameof(Machine.CodeBases), BindingFlags.Instance | BindingFlags.NonPublic)!;
    private static readonly MethodInfo Div = typeof(Arithmetic).GetMethod(nameof(Arithmetic.Div))!;
    private static readonly MethodInfo Divu = typeof(Arithmetic).GetMethod(nameof(Arithmetic.Divu))!;
    private static readonly MethodInfo Rem = typeof(Arithmetic).GetMethod(nameof(Arithmetic.Rem))!;
    private static readonly MethodInfo Remu = typeof(Arithmetic).GetMethod(nameof(Arithmetic.Remu))!;

    private readonly ILGenerator _il;
    private readonly Region _region;
    private readonly uint _ramSize;
    private readonly LocalBuilder?[] _registers = new LocalBuilder?[32];
    private readonly bool[] _written = new bool[32];
    // Arrays and lists of classes rather than dictionaries of structs: each generic instantiation over
    // a value type costs JIT time the first time a region is compiled.
    private readonly uint _pageBase;
    private readonly Label[] _blockLabels = new Label[RegionScanner.WordsPerPage];
    private readonly bool[] _isBlock = new bool[RegionScanner.WordsPerPage];
    private readonly List<ExitStub> _exits = [];
    private readonly List<Action> _outOfLine = [];
    private readonly LocalBuilder _budget, _nextPc, _offset, _ramBase, _pageStateBase, _registersBase;
    private readonly Label _leave;

    private RegionEmitter(ILGenerator il, Region region, uint ramSize)
    {
        _il = il;
        _region = region;
        _ramSize = ramSize;
        _pageBase = region.Entry & ~(uint)(MemoryMap.PageSize - 1);
        _budget = il.DeclareLocal(typeof(ulong));
        _nextPc = il.DeclareLocal(typeof(uint));
        _offset = il.DeclareLocal(typeof(uint));
        // The bases in locals loaded from memory rather than constants: the JIT rematerialises a 64-bit
        // constant at every access (and would fold a local set from one), but keeps a loaded value in a
        // register across a loop when it has one to spare.
        _ramBase = il.DeclareLocal(typeof(nint));
        _pageStateBase = il.DeclareLocal(typeof(nint));
        _registersBase = il.DeclareLocal(typeof(nint));
        _leave = il.DefineLabel();
    }

    /// <summary>
    /// The region's code for <paramref name="machine"/>: compiled once per process for all machines with the same
    /// code (<see cref="SharedCompiledCode"/>). It reaches the machine's registers, RAM and page flags through the
    /// machine it is bound to (<see cref="Machine.CodeBases"/>), never through addresses of one machine held as constants.
    /// </summary>
    /// <param name="words">The instruction words of the region's blocks, block after block.</param>
    public static (TranslatedCode Code, bool Reused) Compile(Machine machine, Region region, ReadOnlySpan<uint> words)
    {
        uint ramSize = machine.RamSize;
        return SharedCompiledCode.For(machine, region, words, () =>
        {
            var method = new DynamicMethod($"guest_{region.Entry:x8}", typeof(uint), [typeof(Machine), typeof(uint), typeof(ulong).MakeByRefType()], typeof(Machine), skipVisibility: true);
            new RegionEmitter(method.GetILGenerator(), region, ramSize).Emit();
            return method;
        });
    }

    private void Emit()
    {
        foreach (var block in _region.Blocks)
        {
            _blockLabels[Word(block.Start)] = _il.DefineLabel();
            _isBlock[Word(block.Start)] = true;
            foreach (var d in block.Instructions) DeclareRegisters(d);
        }
        _il.Emit(OpCodes.Ldarg_2);
        _il.Emit(OpCodes.Ldind_I8);
        _il.Emit(OpCodes.Stloc, _budget);
        LoadBase(Machine.RamBaseSlot, _ramBase);
        LoadBase(Machine.PageStateBaseSlot, _pageStateBase);
        LoadBase(Machine.RegistersBaseSlot, _registersBase);
        for (int r = 1; r < 32; r++)
        {
            if (_registers[r] is not { } local) continue;
            Register(r);
            _il.Emit(OpCodes.Ldind_U4);
            _il.Emit(OpCodes.Stloc, local);
        }
        EmitEntry();
        foreach (var block in _region.Blocks) EmitBlock(block);
        foreach (var code in _outOfLine) code();
        EmitExits();
    }

    /// <summary>
    /// Any block can be where a run starts, so that one region serves every hot entry into its
    /// code: a jump table on the pc. (Loops entered in the middle are irreducible and compile a
    /// little worse, but that costs less than compiling the same code again for each entry.)
    /// </summary>
    private void EmitEntry()
    {
        uint first = _region.Blocks[0].Start;
        var notABlock = _il.DefineLabel();
        var entries = new Label[(_region.Blocks[^1].Start - first) / 4 + 1];
        for (int i = 0; i < entries.Length; i++) entries[i] = notABlock;
        foreach (var block in _region.Blocks) entries[(block.Start - first) / 4] = _blockLabels[Word(block.Start)];
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Ldc_I4, (int)first);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Ldc_I4_2);
        _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Switch, entries);
        _il.MarkLabel(notABlock); // never called so: nothing done, the interpreter carries on
        _il.Emit(OpCodes.Ldarg_1);
        _il.Emit(OpCodes.Stloc, _nextPc);
        _il.Emit(OpCodes.Br, _leave);
    }

    /// <summary>Exit stubs (pc to continue at, instructions counted but not executed) and the write-back of registers.</summary>
    private void EmitExits()
    {
        foreach (var exit in _exits)
        {
            _il.MarkLabel(exit.Label);
            _il.Emit(OpCodes.Ldc_I4, (int)exit.Pc);
            _il.Emit(OpCodes.Stloc, _nextPc);
            if (exit.Refund != 0)
            {
                _il.Emit(OpCodes.Ldloc, _budget);
                _il.Emit(OpCodes.Ldc_I8, (long)exit.Refund);
                _il.Emit(OpCodes.Add);
                _il.Emit(OpCodes.Stloc, _budget);
            }
            _il.Emit(OpCodes.Br, _leave);
        }

        _il.MarkLabel(_leave);
        for (int r = 1; r < 32; r++)
        {
            if (!_written[r]) continue;
            Register(r);
            _il.Emit(OpCodes.Ldloc, _registers[r]!);
            _il.Emit(OpCodes.Stind_I4);
        }
        _il.Emit(OpCodes.Ldarg_2);
        _il.Emit(OpCodes.Ldloc, _budget);
        _il.Emit(OpCodes.Stind_I8);
        _il.Emit(OpCodes.Ldloc, _nextPc);
        _il.Emit(OpCodes.Ret);
    }

    private void DeclareRegisters(in DecodedInstruction d)
    {
        switch (d.Op)
        {
            case Opcode.Lui or Opcode.Auipc or Opcode.Jal:
                break;
            case Opcode.Jalr or (>= Opcode.Lb and <= Opcode.Lhu) or (>= Opcode.Addi and <= Opcode.Srai):
                Declare(d.Rs1);
                break;
            case Opcode.Fence:
                return;
            default: // stores, branches, register-register operations
                Declare(d.Rs1);
                Declare(d.Rs2);
                break;
        }
        if (d.Rd == Decoder.SinkRegister || d.Op is (>= Opcode.Beq and <= Opcode.Bgeu) or (>= Opcode.Sb and <= Opcode.Sw)) return;
        Declare(d.Rd);
        _written[d.Rd] = true;
    }

    private void Declare(int register)
    {
        if (register != 0) _registers[register] ??= _il.DeclareLocal(typeof(uint));
    }

    private void EmitBlock(Block block)
    {
        // Subtract, then test the sign (the budget is below 2^62): the JIT makes one instruction and a
        // branch of the two. Not enough left for the whole block: give it back and leave before it.
        _il.MarkLabel(_blockLabels[Word(block.Start)]);
        _il.Emit(OpCodes.Ldloc, _budget);
        _il.Emit(OpCodes.Ldc_I8, (long)block.Length);
        _il.Emit(OpCodes.Sub);
        _il.Emit(OpCodes.Stloc, _budget);
        _il.Emit(OpCodes.Ldloc, _budget);
        _il.Emit(OpCodes.Ldc_I8, 0L);
        _il.Emit(OpCodes.Blt, Exit(block.Start, block.Length));
        for (int i = 0; i < block.Length; i++) EmitInstruction(block, i);
        if (block.End == BlockEnd.FallThrough) _il.Emit(OpCodes.Br, Target(block.Next));
    }

    /// <summary>Where control goes to reach <paramref name="pc"/> at a block boundary: a block of the region, or out.</summary>
    private Label Target(uint pc) => pc - _pageBase < MemoryMap.PageSize && _isBlock[Word(pc)] ? _blockLabels[Word(pc)] : Exit(pc, 0);

    private static int Word(uint pc) => (int)((pc >> 2) & (RegionScanner.WordsPerPage - 1));

    /// <summary>Leaves the region for <paramref name="pc"/>, handing back <paramref name="refund"/> instructions counted but not executed.</summary>
    private Label Exit(uint pc, int refund)
    {
        var exit = new ExitStub(_il.DefineLabel(), pc, refund);
        _exits.Add(exit);
        return exit.Label;
    }

    private void EmitInstruction(Block block, int index)
    {
        var d = block.Instructions[index];
        uint pc = block.PcOf(index);
        int notDone = block.Length - index; // this instruction and those after it in the block
        switch (d.Op)
        {
            case Opcode.Lui: Constant(d.Rd, (uint)d.Imm); return;
            case Opcode.Auipc: Constant(d.Rd, pc + (uint)d.Imm); return;
            case Opcode.Addi: Immediate(d, OpCodes.Add); return;
            case Opcode.Xori: Immediate(d, OpCodes.Xor); return;
            case Opcode.Ori: Immediate(d, OpCodes.Or); return;
            case Opcode.Andi: Immediate(d, OpCodes.And); return;
            case Opcode.Slli: Immediate(d, OpCodes.Shl); return;
            case Opcode.Srli: Immediate(d, OpCodes.Shr_Un); return;
            case Opcode.Srai: Immediate(d, OpCodes.Shr); return;
            case Opcode.Slti: Immediate(d, OpCodes.Clt); return;
            case Opcode.Sltiu: Immediate(d, OpCodes.Clt_Un); return;
            case Opcode.Add: Binary(d, OpCodes.Add); return;
            case Opcode.Sub: Binary(d, OpCodes.Sub); return;
            case Opcode.Xor: Binary(d, OpCodes.Xor); return;
            case Opcode.Or: Binary(d, OpCodes.Or); return;
            case Opcode.And: Binary(d, OpCodes.And); return;
            case Opcode.Slt: Binary(d, OpCodes.Clt); return;
            case Opcode.Sltu: Binary(d, OpCodes.Clt_Un); return;
            case Opcode.Mul: Binary(d, OpCodes.Mul); return;
            case Opcode.Sll: Binary(d, OpCodes.Shl, shift: true); return;
            case Opcode.Srl: Binary(d, OpCodes.Shr_Un, shift: true); return;
            case Opcode.Sra: Binary(d, OpCodes.Shr, shift: true); return;
            case Opcode.Mulh: MultiplyHigh(d, OpCodes.Conv_I8, OpCodes.Conv_I8); return;
            case Opcode.Mulhsu: MultiplyHigh(d, OpCodes.Conv_I8, OpCodes.Conv_U8); return;
            case Opcode.Mulhu: MultiplyHigh(d, OpCodes.Conv_U8, OpCodes.Conv_U8); return;
            case Opcode.Div: Call(d, Div); return;
            case Opcode.Divu: Call(d, Divu); return;
            case Opcode.Rem: Call(d, Rem); return;
            case Opcode.Remu: Call(d, Remu); return;
            case Opcode.Fence: return;
            case Opcode.Lb: Load(d, 1, OpCodes.Ldind_I1, Exit(pc, notDone)); return;
            case Opcode.Lbu: Load(d, 1, OpCodes.Ldind_U1, Exit(pc, notDone)); return;
            case Opcode.Lh: Load(d, 2, OpCodes.Ldind_I2, Exit(pc, notDone)); return;
            case Opcode.Lhu: Load(d, 2, OpCodes.Ldind_U2, Exit(pc, notDone)); return;
            case Opcode.Lw: Load(d, 4, OpCodes.Ldind_I4, Exit(pc, notDone)); return;
            case Opcode.Sb: Store(d, 1, OpCodes.Stind_I1, Exit(pc, notDone), Exit(pc + 4, notDone - 1)); return;
            case Opcode.Sh: Store(d, 2, OpCodes.Stind_I2, Exit(pc, notDone), Exit(pc + 4, notDone - 1)); return;
            case Opcode.Sw: Store(d, 4, OpCodes.Stind_I4, Exit(pc, notDone), Exit(pc + 4, notDone - 1)); return;
            case Opcode.Jal:
                Constant(d.Rd, pc + 4);
                _il.Emit(OpCodes.Br, Target(pc + (uint)d.Imm));
                return;
            case Opcode.Jalr: Jalr(d, pc, Exit(pc, notDone)); return;
            case Opcode.Beq: Branch(d, pc, OpCodes.Beq); return;
            case Opcode.Bne: Branch(d, pc, OpCodes.Bne_Un); return;
            case Opcode.Blt: Branch(d, pc, OpCodes.Blt); return;
            case Opcode.Bge: Branch(d, pc, OpCodes.Bge); return;
            case Opcode.Bltu: Branch(d, pc, OpCodes.Blt_Un); return;
            case Opcode.Bgeu: Branch(d, pc, OpCodes.Bge_Un); return;
            default: throw new InvalidOperationException($"{d.Op} at 0x{pc:x8} cannot be translated");
        }
    }

    private void Constant(byte rd, uint value)
    {
        if (rd == Decoder.SinkRegister) return;
        _il.Emit(OpCodes.Ldc_I4, (int)value);
        Set(rd);
    }

    private void Immediate(in DecodedInstruction d, OpCode operation)
    {
        if (d.Rd == Decoder.SinkRegister) return;
        Get(d.Rs1);
        _il.Emit(OpCodes.Ldc_I4, d.Imm);
        _il.Emit(operation);
        Set(d.Rd);
    }

    /// <param name="shift">Only the low five bits of rs2 count (IL leaves larger shifts undefined).</param>
    private void Binary(in DecodedInstruction d, OpCode operation, bool shift = false)
    {
        if (d.Rd == Decoder.SinkRegister) return;
        Get(d.Rs1);
        Get(d.Rs2);
        if (shift)
        {
            _il.Emit(OpCodes.Ldc_I4, 31);
            _il.Emit(OpCodes.And);
        }
        _il.Emit(operation);
        Set(d.Rd);
    }

    private void MultiplyHigh(in DecodedInstruction d, OpCode widen1, OpCode widen2)
    {
        if (d.Rd == Decoder.SinkRegister) return;
        Get(d.Rs1);
        _il.Emit(widen1);
        Get(d.Rs2);
        _il.Emit(widen2);
        _il.Emit(OpCodes.Mul);
        _il.Emit(OpCodes.Ldc_I4, 32);
        _il.Emit(OpCodes.Shr_Un);
        _il.Emit(OpCodes.Conv_U4);
        Set(d.Rd);
    }

    private void Call(in DecodedInstruction d, MethodInfo method)
    {
        if (d.Rd == Decoder.SinkRegister) return;
        Get(d.Rs1);
        Get(d.Rs2);
        _il.Emit(OpCodes.Call, method);
        Set(d.Rd);
    }

    /// <summary>offset = rs1 + imm - RamBase, leaving through <paramref name="outside"/> unless all <paramref name="size"/> bytes are RAM.</summary>
    private void RamOffset(in DecodedInstruction d, uint size, Label outside)
    {
        Get(d.Rs1);
        _il.Emit(OpCodes.Ldc_I4, (int)((uint)d.Imm - MemoryMap.RamBase));
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Stloc, _offset);
        _il.Emit(OpCodes.Ldloc, _offset);
        _il.Emit(OpCodes.Ldc_I4, (int)(_ramSize - size));
        _il.Emit(OpCodes.Bgt_Un, outside);
    }

    /// <summary>Pushes base + offset as a native pointer (the base a local holding <see cref="_ramBase"/> or <see cref="_pageStateBase"/>).</summary>
    private void Address(LocalBuilder basePointer, int shift = 0)
    {
        _il.Emit(OpCodes.Ldloc, basePointer);
        _il.Emit(OpCodes.Ldloc, _offset);
        if (shift != 0)
        {
            _il.Emit(OpCodes.Ldc_I4, shift);
            _il.Emit(OpCodes.Shr_Un);
        }
        _il.Emit(OpCodes.Conv_U);
        _il.Emit(OpCodes.Add);
    }

    private void Load(in DecodedInstruction d, uint size, OpCode read, Label outside)
    {
        RamOffset(d, size, outside);
        if (d.Rd == Decoder.SinkRegister) return; // a RAM read has no effect but its value
        Address(_ramBase);
        if (size > 1) _il.Emit(OpCodes.Unaligned, (byte)1);
        _il.Emit(read);
        Set(d.Rd);
    }

    private void Store(in DecodedInstruction d, uint size, OpCode write, Label outside, Label afterStore)
    {
        RamOffset(d, size, outside);
        // Inline only a store within one page that is written already and holds no code; the rest
        // goes out of line, below.
        var slow = _il.DefineLabel();
        var done = _il.DefineLabel();
        PageState();
        _il.Emit(OpCodes.Ldc_I4, (int)Machine.PageWritable);
        _il.Emit(OpCodes.Bne_Un, slow);
        if (size > 1) CrossesPage(size, slow);
        WriteRam(d, size, write);
        _il.MarkLabel(done);

        var store = d; // the lambda runs later
        _outOfLine.Add(() =>
        {
            // A store into a page holding code, or across pages, or the first into a page, leaves the
            // region right after it: the machine then drops decodings and compiled code of what it
            // overwrote, which may be this very code, and counts the page. Not a call from here: a
            // call in a loop makes the JIT keep guest registers in memory.
            var machine = _il.DefineLabel();
            var plain = _il.DefineLabel();
            _il.MarkLabel(slow);
            if (size > 1) CrossesPage(size, machine);
            PageState();
            _il.Emit(OpCodes.Ldc_I4, (int)Machine.PageCode);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Brtrue, machine);
            // A page never written reads zero: storing zero there would only commit memory. Anything
            // else commits it, which the machine accounts for.
            PageState();
            _il.Emit(OpCodes.Ldc_I4, (int)Machine.PageTouched);
            _il.Emit(OpCodes.And);
            _il.Emit(OpCodes.Brtrue, plain);
            Get(store.Rs2);
            if (size < 4)
            {
                _il.Emit(OpCodes.Ldc_I4, (int)((1u << (8 * (int)size)) - 1));
                _il.Emit(OpCodes.And);
            }
            _il.Emit(OpCodes.Brfalse, done);
            _il.Emit(OpCodes.Br, machine);
            _il.MarkLabel(plain); // the first store into a written page since the last dirty-page epoch
            Address(_pageStateBase, MemoryMap.PageShift);
            _il.Emit(OpCodes.Ldc_I4, (int)Machine.PageWritable);
            _il.Emit(OpCodes.Stind_I1);
            WriteRam(store, size, write);
            _il.Emit(OpCodes.Br, done);

            _il.MarkLabel(machine);
            WriteRam(store, size, write);
            _il.Emit(OpCodes.Ldarg_0);
            _il.Emit(OpCodes.Ldloc, _offset);
            _il.Emit(OpCodes.Conv_U8);
            _il.Emit(OpCodes.Ldc_I4, 32);
            _il.Emit(OpCodes.Shl);
            _il.Emit(OpCodes.Ldc_I8, (long)size);
            _il.Emit(OpCodes.Or);
            _il.Emit(OpCodes.Stfld, PendingStore);
            _il.Emit(OpCodes.Br, afterStore);
        });
    }

    private void WriteRam(in DecodedInstruction d, uint size, OpCode write)
    {
        Address(_ramBase);
        Get(d.Rs2);
        if (size > 1) _il.Emit(OpCodes.Unaligned, (byte)1);
        _il.Emit(write);
    }

    /// <summary>Pushes the flags of the page at the current offset.</summary>
    private void PageState()
    {
        Address(_pageStateBase, MemoryMap.PageShift);
        _il.Emit(OpCodes.Ldind_U1);
    }

    /// <summary>Goes to <paramref name="crosses"/> when the <paramref name="size"/> bytes at the current offset run into the next page.</summary>
    private void CrossesPage(uint size, Label crosses)
    {
        _il.Emit(OpCodes.Ldloc, _offset);
        _il.Emit(OpCodes.Ldc_I4, MemoryMap.PageSize - 1);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Ldc_I4, (int)(MemoryMap.PageSize - size));
        _il.Emit(OpCodes.Bgt_Un, crosses);
    }

    private void Jalr(in DecodedInstruction d, uint pc, Label misaligned)
    {
        Get(d.Rs1);
        _il.Emit(OpCodes.Ldc_I4, d.Imm);
        _il.Emit(OpCodes.Add);
        _il.Emit(OpCodes.Ldc_I4, ~1);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Stloc, _nextPc);
        _il.Emit(OpCodes.Ldloc, _nextPc);
        _il.Emit(OpCodes.Ldc_I4_3);
        _il.Emit(OpCodes.And);
        _il.Emit(OpCodes.Brtrue, misaligned); // the interpreter takes the trap
        Constant(d.Rd, pc + 4);
        foreach (uint returnPoint in _region.ReturnPoints)
        {
            _il.Emit(OpCodes.Ldloc, _nextPc);
            _il.Emit(OpCodes.Ldc_I4, (int)returnPoint);
            _il.Emit(OpCodes.Beq, _blockLabels[Word(returnPoint)]);
        }
        _il.Emit(OpCodes.Br, _leave);
    }

    private void Branch(in DecodedInstruction d, uint pc, OpCode taken)
    {
        Get(d.Rs1);
        Get(d.Rs2);
        _il.Emit(taken, Target(pc + (uint)d.Imm));
        _il.Emit(OpCodes.Br, Target(pc + 4));
    }

    private void Get(int register)
    {
        if (register == 0) _il.Emit(OpCodes.Ldc_I4_0);
        else _il.Emit(OpCodes.Ldloc, _registers[register]!);
    }

    private void Set(byte rd) => _il.Emit(OpCodes.Stloc, _registers[rd]!);

    /// <summary>Slot <paramref name="slot"/> of the bound machine's <see cref="Machine.CodeBases"/> into <paramref name="local"/>.</summary>
    private void LoadBase(int slot, LocalBuilder local)
    {
        _il.Emit(OpCodes.Ldarg_0);
        _il.Emit(OpCodes.Ldfld, CodeBases);
        if (slot != 0)
        {
            _il.Emit(OpCodes.Ldc_I4, slot * sizeof(nint));
            _il.Emit(OpCodes.Add);
        }
        _il.Emit(OpCodes.Ldind_I);
        _il.Emit(OpCodes.Stloc, local);
    }

    /// <summary>The address of guest register <paramref name="r"/> (in the machine's pinned register file).</summary>
    private void Register(int r)
    {
        _il.Emit(OpCodes.Ldloc, _registersBase);
        _il.Emit(OpCodes.Ldc_I4, r * sizeof(uint));
        _il.Emit(OpCodes.Add);
    }

    private sealed class ExitStub(Label label, uint pc, int refund)
    {
        public Label Label => label;
        public uint Pc => pc;
        public int Refund => refund;
    }
}
