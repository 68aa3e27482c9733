using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

public class DeviceTests
{
    private const uint Buffer = Prog.Base + 0x2000;
    private const int HandlerIndex = 32;

    private const int RxCount = 0x00, RxLen = 0x04, RxPeer = 0x08, RxAddr = 0x0C, RxPop = 0x10;
    private const int TxAddr = 0x14, TxLen = 0x18, TxPeer = 0x1C, TxSend = 0x20, IrqEnable = 0x24;

    [Fact]
    public void Uart_bytes_become_console_outputs_in_order()
    {
        var machine = new Prog
        {
            Li(A0, MemoryMap.Uart),
            Addi(A1, Zero, 'H'), Sb(A1, A0, 0),
            Addi(A1, Zero, 'i'), Sb(A1, A0, 0),
            Sb(A1, A0, 1),  // other UART registers are accepted and ignored
            Prog.Pass(),
        }.Load();

        Assert.Equal(StopReason.Output, machine.Run(1000));
        var first = Assert.Single(machine.Outputs);
        Assert.Equal(new MachineOutput(0, 3, OutputKind.Console, 0, first.Data), first);
        Assert.Equal("H"u8.ToArray(), first.Data);
        Assert.Equal(4UL, machine.Position);  // the run stops right after the store

        Assert.Equal(StopReason.Output, machine.Run(1000));
        Assert.Equal(2, machine.Outputs.Count); // outputs accumulate until the host takes them
        Assert.Equal(1UL, machine.Outputs[1].Seq);
        Assert.Equal("i"u8.ToArray(), machine.Outputs[1].Data);
        machine.Outputs.Clear();

        Assert.Equal(StopReason.Halted, machine.Run(1000));
        Assert.Empty(machine.Outputs);
        Assert.Equal(2UL, machine.NextOutputSeq);
    }

    [Fact]
    public void Uart_line_status_reads_transmitter_idle()
    {
        var machine = new Prog { Li(A0, MemoryMap.Uart), Lbu(A1, A0, 5), Lbu(A2, A0, 0) }.Load();
        machine.SetRegister(A2, 99);
        Assert.Equal(StopReason.Budget, machine.Run(4));
        Assert.Null(machine.Fault);
        Assert.Equal(0x60u, machine[A1]);
        Assert.Equal(0u, machine[A2]);
    }

    [Theory]
    [InlineData(0x5555u, 0)]
    [InlineData((1u << 16) | 0x3333, 1)]
    [InlineData((42u << 16) | 0x3333, 42)]
    [InlineData((0xFFFFu << 16) | 0x3333, 0xFFFF)]
    public void Test_finisher_halts_with_the_exit_code(uint command, int exitCode)
    {
        var machine = new Prog { Prog.Finish(command), Addi(A0, Zero, 1) }.Load();
        Assert.Equal(StopReason.Halted, machine.Run(1000));
        Assert.True(machine.IsHalted);
        Assert.Null(machine.Fault);
        Assert.Equal(exitCode, machine.ExitCode);
        Assert.Equal(5UL, machine.Position);
        Assert.Equal(0u, machine[A0]);
        Assert.Equal(StopReason.Halted, machine.Run(1000));
        Assert.Equal(5UL, machine.Position);
    }

    [Fact]
    public void Test_finisher_ignores_other_values()
    {
        var machine = new Prog { Prog.Finish(0x1234), Wfi() }.Load();
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        Assert.False(machine.IsHalted);
    }

    [Fact]
    public void Received_packet_is_visible_in_registers_and_popped_into_ram()
    {
        var inputs = new LiveInputs();
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net),                 // 0, 1
            Lw(A0, T0, RxCount),
            Lw(A1, T0, RxLen),
            Lw(A2, T0, RxPeer),
            Li(T1, Buffer), Sw(T1, T0, RxAddr),
            Addi(T1, Zero, 64), Sw(T1, T0, RxPop),
            Lw(A3, T0, RxCount),
            Lw(A4, T0, RxLen),
            Lw(A5, T0, RxAddr),
            Wfi(),
        }.Load(inputs);
        inputs.Deliver(7, "hello"u8.ToArray());
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        Assert.Null(machine.Fault);
        Assert.Equal(1u, machine[A0]);
        Assert.Equal(5u, machine[A1]);
        Assert.Equal(7u, machine[A2]);
        Assert.Equal(0u, machine[A3]);
        Assert.Equal(0u, machine[A4]);
        Assert.Equal(Buffer, machine[A5]);
        Assert.Equal("hello", ReadString(machine, Buffer, 5));
        Assert.Equal(0, machine.QueuedPackets);
    }

    [Fact]
    public void Pop_copies_at_most_the_requested_bytes_and_drops_the_packet()
    {
        var inputs = new LiveInputs();
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net),
            Li(T1, Buffer), Sw(T1, T0, RxAddr),
            Addi(T1, Zero, 3), Sw(T1, T0, RxPop),
            Lw(A0, T0, RxCount), Lw(A1, T0, RxLen), Lw(A2, T0, RxPeer),
            Wfi(),
        }.Load(inputs);
        Assert.True(machine.TryWriteRam(Buffer, "......"u8));
        inputs.Deliver(1, "abcdef"u8.ToArray());
        inputs.Deliver(2, "xy"u8.ToArray());
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        Assert.Equal("abc...", ReadString(machine, Buffer, 6));
        Assert.Equal(1u, machine[A0]);   // the second packet is now at the head
        Assert.Equal(2u, machine[A1]);
        Assert.Equal(2u, machine[A2]);
    }

    [Fact]
    public void Pop_into_memory_outside_ram_is_a_store_fault()
    {
        var inputs = new LiveInputs();
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net),
            Li(T1, 0x4000_0000), Sw(T1, T0, RxAddr),
            Addi(T1, Zero, 16), Sw(T1, T0, RxPop),  // 5
        }.Load(inputs);
        inputs.Deliver(1, "data"u8.ToArray());
        Assert.Equal(StopReason.Faulted, machine.Run(1000));
        Assert.Equal(new GuestFault(Prog.At(6), TrapCause.StoreAccessFault, 0x4000_0000), machine.Fault);
        Assert.Equal(1, machine.QueuedPackets); // not consumed
    }

    [Fact]
    public void Empty_queue_reads_zero_and_pop_does_nothing()
    {
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net),
            Lw(A0, T0, RxCount), Lw(A1, T0, RxLen), Lw(A2, T0, RxPeer),
            Addi(T1, Zero, 8), Sw(T1, T0, RxPop),
            Wfi(),
        }.Load();
        machine.SetRegister(A0, 9); machine.SetRegister(A1, 9); machine.SetRegister(A2, 9);
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        Assert.Null(machine.Fault);
        Assert.Equal(0u, machine[A0]);
        Assert.Equal(0u, machine[A1]);
        Assert.Equal(0u, machine[A2]);
    }

    [Fact]
    public void Tx_send_emits_a_packet_to_the_peer()
    {
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net),             // 0, 1
            Li(T1, Buffer), Sw(T1, T0, TxAddr), // 2..4
            Addi(T1, Zero, 4), Sw(T1, T0, TxLen),
            Addi(T1, Zero, 9), Sw(T1, T0, TxPeer),
            Lw(A0, T0, TxAddr), Lw(A1, T0, TxLen), Lw(A2, T0, TxPeer),  // 9..11
            Addi(T1, Zero, 1), Sw(T1, T0, TxSend),                      // 12, 13
            Addi(A3, Zero, 1),
            Wfi(),
        }.Load();
        Assert.True(machine.TryWriteRam(Buffer, "pong"u8));

        Assert.Equal(StopReason.Output, machine.Run(1000));
        var packet = Assert.Single(machine.Outputs);
        Assert.Equal(OutputKind.Packet, packet.Kind);
        Assert.Equal(9u, packet.Peer);
        Assert.Equal("pong"u8.ToArray(), packet.Data);
        Assert.Equal(0UL, packet.Seq);
        Assert.Equal(13UL, packet.Position);
        Assert.Equal(Buffer, machine[A0]);
        Assert.Equal(4u, machine[A1]);
        Assert.Equal(9u, machine[A2]);
        Assert.Equal(0u, machine[A3]);

        // The device copied the bytes: changing the buffer later does not change the packet.
        Assert.True(machine.TryWriteRam(Buffer, "PING"u8));
        Assert.Equal("pong"u8.ToArray(), packet.Data);
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        Assert.Equal(1u, machine[A3]);
    }

    [Fact]
    public void Tx_from_memory_outside_ram_is_a_load_fault()
    {
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net),
            Li(T1, 0x4000_0000), Sw(T1, T0, TxAddr),
            Addi(T1, Zero, 4), Sw(T1, T0, TxLen),
            Sw(T1, T0, TxSend),   // 7
        }.Load();
        Assert.Equal(StopReason.Faulted, machine.Run(1000));
        Assert.Equal(new GuestFault(Prog.At(7), TrapCause.LoadAccessFault, 0x4000_0000), machine.Fault);
        Assert.Empty(machine.Outputs);
    }

    /// <summary>
    /// Program: mtvec -> handler; optionally IRQ_ENABLE, mie.MEIE and mstatus.MIE; then wfi, a5 = 1, pass.
    /// The handler puts mcause in a0 and passes.
    /// </summary>
    private static Prog ExternalInterruptProgram(bool irqEnable, bool meie, bool mie)
    {
        var program = new Prog
        {
            Li(T0, Prog.At(HandlerIndex)), Csrw(Mtvec, T0),
            Li(T0, MemoryMap.Net),
            Addi(T1, Zero, irqEnable ? 1 : 0), Sw(T1, T0, IrqEnable),
            Li(T1, meie ? 0x800u : 0u), Csrw(Mie, T1),
            Csrrsi(Zero, Mstatus, mie ? 8u : 0u),
            Wfi(),
            Addi(A5, Zero, 1),
            Prog.Pass(),
        };
        while (program.Count < HandlerIndex) program.Add(Nop());
        program.Add(Csrr(A0, Mcause));
        program.Add(Csrr(A1, Mepc));
        program.Add(Prog.Pass());
        return program;
    }

    [Theory]
    [InlineData(true, true, true)]
    [InlineData(false, true, true)]
    [InlineData(true, false, true)]
    [InlineData(true, true, false)]
    public void External_interrupt_needs_irq_enable_meie_and_mie(bool irqEnable, bool meie, bool mie)
    {
        var inputs = new LiveInputs();
        var machine = ExternalInterruptProgram(irqEnable, meie, mie).Load(inputs);
        inputs.Deliver(3, "x"u8.ToArray());
        var reason = Run.UntilStopped(machine, limit: 10_000);

        if (irqEnable && meie && mie)
        {
            Assert.Equal(StopReason.Halted, reason);
            Assert.Equal(TrapCause.MachineExternalInterrupt, machine[A0]);
            Assert.Equal(0u, machine[A5]);
        }
        else if (irqEnable && meie)
        {
            // Pending and enabled in mie wakes wfi even with interrupts globally off; no trap is taken.
            Assert.Equal(StopReason.Halted, reason);
            Assert.Equal(0u, machine[A0]);
            Assert.Equal(1u, machine[A5]);
        }
        else
        {
            Assert.Equal(StopReason.Waiting, reason);
            Assert.Equal(0u, machine[A0]);
        }
        Assert.Null(machine.Fault);
    }

    [Fact]
    public void External_interrupt_wakes_a_sleeping_guest_when_a_packet_arrives()
    {
        var inputs = new LiveInputs();
        var machine = ExternalInterruptProgram(true, true, true).Load(inputs);
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, limit: 10_000));
        ulong slept = machine.Position;
        Assert.Equal(StopReason.Waiting, machine.Run(10_000));
        Assert.Equal(slept, machine.Position);

        inputs.Deliver(5, "wake"u8.ToArray());
        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine, limit: 10_000));
        Assert.Equal(TrapCause.MachineExternalInterrupt, machine[A0]);
        Assert.Equal(Prog.At(12), machine[A1]); // mepc: the instruction after wfi
        Assert.Equal(0u, machine[A5]);
    }

    [Fact]
    public void Mip_shows_meip_while_packets_wait_and_the_device_interrupt_is_enabled()
    {
        var inputs = new LiveInputs();
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net),
            Csrr(A0, Mip),
            Addi(T1, Zero, 1), Sw(T1, T0, IrqEnable),
            Csrr(A1, Mip),
            Lw(A2, T0, IrqEnable),
            Li(T1, Buffer), Sw(T1, T0, RxAddr), Sw(Zero, T0, RxPop),
            Csrr(A3, Mip),
            Wfi(),
        }.Load(inputs);
        inputs.Deliver(1, "p"u8.ToArray());
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        Assert.Equal(0u, machine[A0]);
        Assert.Equal(0x800u, machine[A1]);
        Assert.Equal(1u, machine[A2]);
        Assert.Equal(0u, machine[A3]);
    }

    /// <summary>mtvec -> handler (a0 = mcause, a1 = mepc, pass); mtimecmp = a2:a3 (hi:lo); MTIE; MIE; wfi.</summary>
    private static Prog TimerProgram(uint mtvecMode = 0)
    {
        var program = new Prog
        {
            Li(T0, Prog.At(HandlerIndex) | mtvecMode), Csrw(Mtvec, T0),
            Li(T0, MemoryMap.Clint + 0x4000),
            Addi(T1, Zero, -1), Sw(T1, T0, 4),    // park the high half first
            Sw(A3, T0, 0), Sw(A2, T0, 4),
            Addi(T1, Zero, 0x80), Csrw(Mie, T1),
            Csrrsi(Zero, Mstatus, 8),
            Wfi(),
            Addi(A5, Zero, 1),
            Prog.Pass(),
        };
        while (program.Count < HandlerIndex + 7) program.Add(Nop());
        program.Add(Csrr(A0, Mcause));  // HandlerIndex + 7: the vectored timer entry
        program.Add(Csrr(A1, Mepc));
        program.Add(Prog.Pass());
        return program;
    }

    [Fact]
    public void Timer_interrupt_fires_when_mtimecmp_is_in_the_past()
    {
        var machine = TimerProgram().Load(new LiveInputs());
        machine.SetRegister(A2, 0);
        machine.SetRegister(A3, 0);
        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine, limit: 10_000));
        Assert.Equal(TrapCause.MachineTimerInterrupt, machine[A0]);
        Assert.Equal(0u, machine[A5]);
        Assert.True(machine.TimerPending);
        Assert.Equal(0UL, machine.Mtimecmp);
    }

    [Fact]
    public void Timer_interrupt_uses_the_vector_in_vectored_mode()
    {
        var machine = TimerProgram(mtvecMode: 1).Load(new LiveInputs());
        // Direct mode would enter at HandlerIndex, which holds nops falling through to the same code,
        // so tell them apart by the number of instructions executed.
        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine, limit: 10_000));
        Assert.Equal(TrapCause.MachineTimerInterrupt, machine[A0]);
        ulong vectored = machine.Position;

        var direct = TimerProgram().Load(new LiveInputs());
        Assert.Equal(StopReason.Halted, Run.UntilStopped(direct, limit: 10_000));
        Assert.Equal(vectored + 7, direct.Position);
    }

    [Fact]
    public void Timer_in_the_far_future_lets_the_guest_sleep()
    {
        var machine = TimerProgram().Load(new LiveInputs());
        machine.SetRegister(A2, 0x7FFF_FFFF);
        machine.SetRegister(A3, 0);
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, limit: 10_000));
        Assert.False(machine.TimerPending);
        Assert.Equal(0x7FFF_FFFF_0000_0000UL, machine.Mtimecmp);
    }

    [Fact]
    public void Timer_interrupt_is_not_taken_without_mtie()
    {
        var machine = TimerProgram().Load(new LiveInputs());
        Assert.True(machine.TryWriteRam(Prog.At(10), BitConverter.GetBytes(Nop()))); // drop the csrw mie
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, limit: 10_000));
        Assert.True(machine.TimerPending); // pending, but not enabled, so it neither traps nor wakes wfi
        Assert.Equal(0u, machine[A0]);
    }

    [Fact]
    public void Clock_and_random_reads_are_recorded_at_the_reading_instruction()
    {
        var recorder = new EventRecorder();
        var machine = new Prog
        {
            Li(T0, MemoryMap.Clint + 0xBFF8),   // 0, 1
            Lw(A0, T0, 0),                       // 2: mtime low
            Lw(A1, T0, 4),                       // 3: mtime high
            Csrr(A2, Time),                      // 4
            Li(T0, MemoryMap.Rng),               // 5, 6
            Lw(A3, T0, 0),                       // 7
            Li(T0, MemoryMap.Rtc),               // 8, 9
            Lw(A4, T0, 0),                       // 10: RTC low, latches high
            Lw(A5, T0, 4),                       // 11: not an input of its own
            Wfi(),
        }.Load(new LiveInputs(recorder));
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        var entries = recorder.Cut(machine.Position).Entries;
        Assert.Equal(
            [(EntryKind.Mtime, 2UL), (EntryKind.Mtime, 3UL), (EntryKind.Mtime, 4UL), (EntryKind.Random, 7UL), (EntryKind.Rtc, 10UL)],
            entries.Select(e => (e.Kind, e.Position)).ToArray());
        Assert.Equal((uint)entries[0].Value, machine[A0]);
        Assert.Equal((uint)(entries[1].Value >> 32), machine[A1]);
        Assert.Equal((uint)entries[2].Value, machine[A2]);
        Assert.Equal((uint)entries[3].Value, machine[A3]);
        Assert.Equal((uint)entries[4].Value, machine[A4]);
        Assert.Equal((uint)(entries[4].Value >> 32), machine[A5]);
        Assert.True(entries[4].Value > 1_600_000_000UL * 1_000_000_000UL); // wall-clock nanoseconds, after 2020
        Assert.True(entries[0].Value <= entries[1].Value && entries[1].Value <= entries[2].Value);
    }

    [Fact]
    public void Clint_reads_back_mtimecmp()
    {
        var machine = new Prog
        {
            Li(T0, MemoryMap.Clint + 0x4000),
            Lw(A0, T0, 0), Lw(A1, T0, 4),
            Sw(A2, T0, 0), Sw(A3, T0, 4),
            Lw(A4, T0, 0), Lw(A5, T0, 4),
            Wfi(),
        }.Load();
        machine.SetRegister(A2, 0x11223344);
        machine.SetRegister(A3, 0x55667788);
        Assert.Equal(StopReason.Waiting, machine.Run(1000));
        Assert.Equal(0xFFFFFFFFu, machine[A0]); // reset value: never
        Assert.Equal(0xFFFFFFFFu, machine[A1]);
        Assert.Equal(0x11223344u, machine[A4]);
        Assert.Equal(0x55667788u, machine[A5]);
        Assert.Equal(0x55667788_11223344UL, machine.Mtimecmp);
    }

    [Fact]
    public void Deliver_refuses_packets_larger_than_64_KiB()
    {
        var inputs = new LiveInputs();
        inputs.Deliver(1, new byte[65536]);
        var e = Assert.Throws<ArgumentException>(() => inputs.Deliver(1, new byte[65537]));
        Assert.Contains("64 KiB", e.Message);
    }

    private static string ReadString(Machine machine, uint address, int length)
    {
        var bytes = new byte[length];
        Assert.True(machine.TryReadRam(address, bytes));
        return Encoding.ASCII.GetString(bytes);
    }
}
