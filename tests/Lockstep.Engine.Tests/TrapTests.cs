using Lockstep.Engine.Cpu;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

public class TrapTests
{
    private const int HandlerIndex = 16;

    /// <summary>
    /// mtvec -> handler at index 16; instruction 3 is the one under test; after it, a3 = 42 and a
    /// pass. The handler records mepc/mcause/mtval in a0/a1/a2, skips the instruction and mrets.
    /// </summary>
    private static Prog WithHandler(uint instruction)
    {
        var program = new Prog
        {
            Li(T0, Prog.At(HandlerIndex)),  // 0, 1
            Csrw(Mtvec, T0),                // 2
            instruction,                    // 3
            Addi(A3, Zero, 42),             // 4
            Prog.Pass(),                    // 5..9
        };
        while (program.Count < HandlerIndex) program.Add(Nop());
        program.Add(Csrr(A0, Mepc));
        program.Add(Csrr(A1, Mcause));
        program.Add(Csrr(A2, Mtval));
        program.Add(Addi(T2, A0, 4));
        program.Add(Csrw(Mepc, T2));
        program.Add(Mret());
        return program;
    }

    public static TheoryData<string, uint, uint, uint> Exceptions => new()
    {
        // name, instruction, mcause, mtval (for loads/stores a4 holds the address)
        { "ecall", Ecall(), TrapCause.EcallFromM, 0 },
        { "ebreak", Ebreak(), TrapCause.Breakpoint, 0 },
        { "all ones", 0xFFFFFFFF, TrapCause.IllegalInstruction, 0xFFFFFFFF },
        { "all zeroes", 0x00000000, TrapCause.IllegalInstruction, 0 },
        { "bad funct7", R(0x10, A2, A1, 0, A0, 0x33), TrapCause.IllegalInstruction, R(0x10, A2, A1, 0, A0, 0x33) },
        { "unknown system op", 0x10200073, TrapCause.IllegalInstruction, 0x10200073 },
        { "unknown csr", Csrr(A5, 0x7C0), TrapCause.IllegalInstruction, Csrr(A5, 0x7C0) },
        { "write to read-only csr", Csrw(Mhartid, A1), TrapCause.IllegalInstruction, Csrw(Mhartid, A1) },
        { "load outside ram", Lw(A5, A4, 0), TrapCause.LoadAccessFault, 0x2000_0000 },
        { "byte load outside ram", Lbu(A5, A4, 0), TrapCause.LoadAccessFault, 0x2000_0000 },
        { "store outside ram", Sw(A5, A4, 4), TrapCause.StoreAccessFault, 0x2000_0004 },
        { "halfword store outside ram", Sh(A5, A4, -2), TrapCause.StoreAccessFault, 0x1FFF_FFFE },
    };

    [Theory]
    [MemberData(nameof(Exceptions))]
    public void Exceptions_enter_the_handler_and_mret_returns(string name, uint instruction, uint cause, uint tval)
    {
        _ = name;
        var machine = WithHandler(instruction).Load();
        machine.SetRegister(A4, 0x2000_0000);
        machine.SetRegister(A5, 0x5A5A5A5A);

        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine, limit: 1000));
        Assert.Null(machine.Fault);
        Assert.Equal(0, machine.ExitCode);
        Assert.Equal(Prog.At(3), machine[A0]);   // mepc
        Assert.Equal(cause, machine[A1]);        // mcause
        Assert.Equal(tval, machine[A2]);         // mtval
        Assert.Equal(42u, machine[A3]);          // execution went on after the trapping instruction
        Assert.Equal(0x5A5A5A5Au, machine[A5]);  // a faulting load does not write its destination
        // 3 set-up + the trapping instruction + 6 in the handler + 1 + 5 to pass: trapping instructions count.
        Assert.Equal(16UL, machine.Position);
    }

    [Theory]
    [MemberData(nameof(Exceptions))]
    public void Without_a_handler_a_trap_is_a_guest_fault(string name, uint instruction, uint cause, uint tval)
    {
        _ = name;
        var machine = new Prog { Nop(), Nop(), instruction, Nop() }.Load();
        machine.SetRegister(A4, 0x2000_0000);

        Assert.Equal(StopReason.Faulted, machine.Run(100));
        Assert.True(machine.IsHalted);
        Assert.Equal(new GuestFault(Prog.At(2), cause, tval), machine.Fault);
        Assert.Equal(3UL, machine.Position);
        Assert.Equal(Prog.At(2), machine.Pc);
        // A halted machine stays halted.
        Assert.Equal(StopReason.Faulted, machine.Run(100));
        Assert.Equal(3UL, machine.Position);
    }

    [Fact]
    public void Guest_fault_describes_itself()
    {
        var machine = new Prog { Ebreak() }.Load();
        Assert.Equal(StopReason.Faulted, machine.Run(10));
        string text = machine.Fault!.ToString();
        Assert.Contains("guest fault", text);
        Assert.Contains("breakpoint", text);
        Assert.Contains("(mcause 0x3)", text);
        Assert.Contains("pc 0x80000000", text);
        Assert.Contains("mtval 0x00000000", text);
        Assert.Contains("(mcause 0x8000000b)", new GuestFault(0, TrapCause.MachineExternalInterrupt, 0).ToString());
    }

    [Fact]
    public void Fetching_outside_ram_is_an_instruction_access_fault()
    {
        var machine = new Prog { Jalr(Zero, A1, 0) }.Load();
        machine.SetRegister(A1, 0x1000);
        Assert.Equal(StopReason.Faulted, machine.Run(10));
        Assert.Equal(new GuestFault(0x1000, TrapCause.InstructionAccessFault, 0x1000), machine.Fault);
        Assert.Equal(2UL, machine.Position);
    }

    [Fact]
    public void Running_off_the_end_of_ram_faults()
    {
        var machine = new Machine(4096);
        byte[] nops = new byte[4096];
        for (int i = 0; i < 4096; i += 4) BitConverter.GetBytes(Nop()).CopyTo(nops, i);
        Assert.True(machine.TryWriteRam(Prog.Base, nops));
        machine.Pc = Prog.Base;
        Assert.Equal(StopReason.Faulted, machine.Run(5000));
        Assert.Equal(new GuestFault(Prog.Base + 4096, TrapCause.InstructionAccessFault, Prog.Base + 4096), machine.Fault);
        Assert.Equal(1025UL, machine.Position);
    }

    [Fact]
    public void A_word_access_straddling_the_end_of_ram_faults()
    {
        var machine = new Prog { Lw(A0, A1, 0) }.Load(ramSize: 4096);
        machine.SetRegister(A1, Prog.Base + 4094);
        Assert.Equal(StopReason.Faulted, machine.Run(10));
        Assert.Equal(new GuestFault(Prog.Base, TrapCause.LoadAccessFault, Prog.Base + 4094), machine.Fault);

        var store = new Prog { Sw(A0, A1, 0) }.Load(ramSize: 4096);
        store.SetRegister(A1, Prog.Base + 4093);
        Assert.Equal(StopReason.Faulted, store.Run(10));
        Assert.Equal(new GuestFault(Prog.Base, TrapCause.StoreAccessFault, Prog.Base + 4093), store.Fault);

        var last = new Prog { Lw(A0, A1, 0) }.Load(ramSize: 4096);
        last.SetRegister(A1, Prog.Base + 4092);
        Assert.Equal(StopReason.Budget, last.Run(1));
        Assert.Null(last.Fault);
    }

    [Fact]
    public void Identification_csrs()
    {
        var machine = new Prog
        {
            Csrr(A0, Misa), Csrr(A1, Mhartid), Csrr(A2, Mvendorid), Csrr(A3, Mstatus), Csrr(A4, Mip),
        }.Load();
        machine.SetRegister(A1, 99);
        machine.SetRegister(A2, 99);
        machine.SetRegister(A4, 99);
        Assert.Equal(StopReason.Budget, machine.Run(5));
        Assert.Null(machine.Fault);
        Assert.Equal(0x40001100u, machine[A0]); // RV32 + I + M
        Assert.Equal(0u, machine[A1]);
        Assert.Equal(0u, machine[A2]);
        Assert.Equal(0x1800u, machine[A3]);    // MPP = machine, interrupts off
        Assert.Equal(0u, machine[A4]);
    }

    [Fact]
    public void Instret_and_cycle_count_the_instructions_before_the_read()
    {
        var machine = new Prog
        {
            Nop(), Nop(), Nop(), Nop(), Nop(),
            Csrr(A0, Minstret),   // 5
            Csrr(A1, Instret),    // 6
            Csrr(A2, Mcycle),     // 7
            Csrr(A3, Cycle),      // 8
            Csrr(A4, Minstreth),  // 9
        }.Load();
        Assert.Equal(StopReason.Budget, machine.Run(10));
        Assert.Equal(5u, machine[A0]);
        Assert.Equal(6u, machine[A1]);
        Assert.Equal(7u, machine[A2]);
        Assert.Equal(8u, machine[A3]);
        Assert.Equal(0u, machine[A4]);
    }

    [Fact]
    public void Instret_counts_trapping_instructions_like_position()
    {
        // ecall traps into a handler that just skips it; minstret afterwards equals Position at the read.
        var program = WithHandler(Ecall());
        program.Add(Nop());
        var machine = program.Load();
        // Replace the pass sequence at 5 with: csrr a4, minstret ; wfi
        Assert.True(machine.TryWriteRam(Prog.At(5), [.. BitConverter.GetBytes(Csrr(A4, Minstret)), .. BitConverter.GetBytes(Wfi())]));
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, limit: 1000));
        // 3 set-up + ecall + 6 handler + addi = 11 instructions before the read.
        Assert.Equal(11u, machine[A4]);
        Assert.Equal(13UL, machine.Position);
    }

    [Fact]
    public void Writing_minstret_sets_the_count_seen_by_the_next_instruction()
    {
        var machine = new Prog
        {
            Csrw(Minstret, A1),   // 0
            Csrr(A0, Minstret),   // 1: reads the written value
            Nop(),
            Csrr(A2, Minstret),   // 3
            Csrw(Minstreth, A3),  // 4
            Csrr(A4, Minstreth),  // 5
            Csrr(A5, Minstret),   // 6
        }.Load();
        machine.SetRegister(A1, 1000);
        machine.SetRegister(A3, 7);
        Assert.Equal(StopReason.Budget, machine.Run(7));
        Assert.Null(machine.Fault);
        Assert.Equal(1000u, machine[A0]);
        Assert.Equal(1002u, machine[A2]);
        Assert.Equal(7u, machine[A4]);
        Assert.Equal(1004u, machine[A5]); // the csrw of the high half does not count itself
        Assert.Equal(7UL, machine.Position); // the machine's own notion of time is not affected
    }

    [Fact]
    public void Csr_read_modify_write_forms()
    {
        var machine = new Prog
        {
            Csrrw(A0, Mscratch, A1),    // a0 = 0, mscratch = 0xF0F0
            Csrrs(A2, Mscratch, A3),    // a2 = 0xF0F0, mscratch |= 0x000F
            Csrrc(A4, Mscratch, A5),    // a4 = 0xF0FF, mscratch &= ~0x00F0
            Csrrwi(T0, Mscratch, 17),   // t0 = 0xF00F, mscratch = 17
            Csrrsi(T1, Mscratch, 8),    // t1 = 17, mscratch = 25
            Csrrci(T2, Mscratch, 1),    // t2 = 25, mscratch = 24
            Csrr(S(1), Mscratch),
        }.Load();
        machine.SetRegister(A1, 0xF0F0);
        machine.SetRegister(A3, 0x000F);
        machine.SetRegister(A5, 0x00F0);
        Assert.Equal(StopReason.Budget, machine.Run(7));
        Assert.Null(machine.Fault);
        Assert.Equal(0u, machine[A0]);
        Assert.Equal(0xF0F0u, machine[A2]);
        Assert.Equal(0xF0FFu, machine[A4]);
        Assert.Equal(0xF00Fu, machine[T0]);
        Assert.Equal(17u, machine[T1]);
        Assert.Equal(25u, machine[T2]);
        Assert.Equal(24u, machine[S(1)]);
    }

    private static int S(int n) => n switch { 0 => 8, 1 => 9, _ => 16 + n };

    [Fact]
    public void Csr_fields_keep_only_their_writable_bits()
    {
        var machine = new Prog
        {
            Csrw(Mie, A1), Csrr(A0, Mie),
            Csrw(Mepc, A1), Csrr(A2, Mepc),
            Csrw(Mtvec, A3), Csrr(A4, Mtvec),
            Csrw(Mstatus, A1), Csrr(A5, Mstatus),
            Csrr(T0, Misa),
        }.Load();
        machine.SetRegister(A1, 0xFFFFFFFF);
        machine.SetRegister(A3, 0x80000103);
        Assert.Equal(StopReason.Budget, machine.Run(8));
        Assert.Null(machine.Fault);
        Assert.Equal(0x888u, machine[A0]);          // MSIE, MTIE, MEIE
        Assert.Equal(0xFFFFFFFCu, machine[A2]);     // IALIGN = 32
        Assert.Equal(0x80000101u, machine[A4]);     // mode 2 is reserved
        Assert.Equal(0x1888u, machine[A5]);         // MIE, MPIE, MPP = M
    }

    [Fact]
    public void Reading_a_read_only_csr_with_csrrs_x0_is_allowed()
    {
        var machine = Stepping(Csrrs(A0, Mhartid, Zero), Csrrsi(A1, Misa, 0));
        Assert.Equal(StopReason.Budget, machine.Run(2));
        Assert.Null(machine.Fault);
        Assert.Equal(0x40001100u, machine[A1]);
    }

    private static Machine Stepping(params uint[] words)
    {
        var program = new Prog();
        foreach (uint w in words) program.Add(w);
        return program.Load();
    }

    [Fact]
    public void Trap_entry_saves_and_clears_mie_and_mret_restores_it()
    {
        var program = new Prog
        {
            Li(T0, Prog.At(HandlerIndex)),  // 0, 1
            Csrw(Mtvec, T0),                // 2
            Csrrsi(Zero, Mstatus, 8),       // 3: MIE on (nothing is pending)
            Ecall(),                        // 4
            Csrr(A3, Mstatus),              // 5: after mret
            Wfi(),                          // 6
        };
        while (program.Count < HandlerIndex) program.Add(Nop());
        program.Add(Csrr(A0, Mstatus));     // in the handler: MIE off, MPIE on
        program.Add(Csrr(T2, Mepc));
        program.Add(Addi(T2, T2, 4));
        program.Add(Csrw(Mepc, T2));
        program.Add(Mret());
        var machine = program.Load();
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, limit: 1000));
        Assert.Equal(0x1880u, machine[A0]);
        Assert.Equal(0x1888u, machine[A3]);
    }

    [Fact]
    public void Wfi_with_nothing_pending_waits()
    {
        var machine = new Prog { Nop(), Wfi(), Addi(A0, Zero, 1) }.Load();
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.True(machine.IsWaiting);
        Assert.Equal(2UL, machine.Position);
        Assert.Equal(Prog.At(2), machine.Pc);
        // Nothing can wake it: it keeps waiting without executing anything.
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.Equal(2UL, machine.Position);
        Assert.Equal(0u, machine[A0]);
    }

    [Fact]
    public void Run_stops_exactly_at_the_budget()
    {
        var machine = new Prog { Addi(A0, A0, 1), Jal(Zero, -4) }.Load();
        Assert.Equal(StopReason.Budget, machine.Run(0));
        Assert.Equal(0UL, machine.Position);
        Assert.Equal(StopReason.Budget, machine.Run(1001));
        Assert.Equal(1001UL, machine.Position);
        Assert.Equal(501u, machine[A0]);
        Assert.Equal(StopReason.Budget, machine.Run(1));
        Assert.Equal(1002UL, machine.Position);
    }
}
