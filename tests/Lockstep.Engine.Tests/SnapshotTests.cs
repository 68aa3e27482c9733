using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

public class SnapshotTests
{
    private static (Machine Machine, LiveInputs Inputs) SleepingKv()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("kv", inputs);
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
        return (machine, inputs);
    }

    private static List<MachineOutput> Serve(Machine machine, LiveInputs inputs, params string[] requests)
    {
        foreach (string request in requests) inputs.Deliver(6, Encoding.ASCII.GetBytes(request));
        var outputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, outputs));
        return outputs;
    }

    private static Machine RestoredKv(byte[] snapshot, out LiveInputs inputs)
    {
        inputs = new LiveInputs();
        var machine = new Machine(MemoryMap.DefaultRamSize, inputs);
        MachineSnapshot.Restore(machine, snapshot);
        return machine;
    }

    [Fact]
    public void A_full_snapshot_restored_into_a_new_machine_continues_identically()
    {
        var (original, inputs) = SleepingKv();
        Serve(original, inputs, "1 PUT a 5", "2 PUT b hello");
        // One step into the next request: the packet sits in the device queue when the snapshot is taken.
        inputs.Deliver(6, "3 INCR a"u8.ToArray());
        Assert.Equal(StopReason.Budget, original.Run(1));
        Assert.Equal(1, original.QueuedPackets);

        byte[] snapshot = MachineSnapshot.CaptureFull(original);
        var copy = RestoredKv(snapshot, out var copyInputs);
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));
        Assert.Equal(original.Position, copy.Position);
        Assert.Equal(original.Pc, copy.Pc);
        Assert.Equal(original.NextOutputSeq, copy.NextOutputSeq);
        Assert.Equal(1, copy.QueuedPackets);

        var pendingFromOriginal = Serve(original, inputs);
        var pendingFromCopy = Serve(copy, copyInputs);
        Recorder.AssertSameOutputs(pendingFromOriginal, pendingFromCopy);
        Assert.Equal([(6u, "3 6")], Run.Packets(pendingFromCopy));

        string[] more = ["4 GET a", "5 GET b", "6 DEL a", "7 GET a"];
        var fromOriginal = Serve(original, inputs, more);
        var fromCopy = Serve(copy, copyInputs, more);
        Recorder.AssertSameOutputs(fromOriginal, fromCopy);
        Assert.Equal([(6u, "4 VALUE 6"), (6u, "5 VALUE hello"), (6u, "6 OK"), (6u, "7 NOTFOUND")], Run.Packets(fromCopy));
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));
    }

    [Fact]
    public void A_snapshot_taken_mid_computation_continues_identically()
    {
        var original = Repo.LoadGuest("bench");
        var outputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Budget, Run.UntilStopped(original, outputs, limit: 3_000_123));
        Assert.Equal("bench: 14 rounds\n", Run.Console(outputs));

        var copy = new Machine();
        MachineSnapshot.Restore(copy, MachineSnapshot.CaptureFull(original));
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));

        Assert.Equal(StopReason.Budget, original.Run(2_000_000));
        Assert.Equal(StopReason.Budget, copy.Run(2_000_000));
        Assert.Equal(original.Position, copy.Position);
        Assert.Equal(original.Pc, copy.Pc);
        for (int r = 1; r < 32; r++) Assert.Equal(original[r], copy[r]);
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));
    }

    [Fact]
    public void A_delta_on_top_of_the_full_snapshot_it_follows_gives_the_same_state()
    {
        var (original, inputs) = SleepingKv();
        Serve(original, inputs, "1 PUT a 5");
        byte[] full = MachineSnapshot.CaptureFull(original);
        original.ClearDirtyPages();

        Serve(original, inputs, "2 PUT b 6", "3 INCR a", "4 PUT c " + new string('x', 1000));
        byte[] delta = MachineSnapshot.CaptureDelta(original);
        Assert.True(delta.Length < full.Length, $"delta {delta.Length} bytes, full {full.Length}");

        var copy = RestoredKv(full, out var copyInputs);
        Assert.NotEqual(StateHash.Compute(original), StateHash.Compute(copy)); // the full snapshot alone is behind
        MachineSnapshot.Restore(copy, delta);
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));

        var fromOriginal = Serve(original, inputs, "5 GET c", "6 GET a");
        var fromCopy = Serve(copy, copyInputs, "5 GET c", "6 GET a");
        Recorder.AssertSameOutputs(fromOriginal, fromCopy);
        Assert.Equal("6 VALUE 6", Run.Packets(fromCopy)[1].Text);
    }

    /// <summary>
    /// How a secondary gets most of RAM while the primary runs on: pages copied by another thread
    /// during a compute run that keeps storing, then a delta taken on the machine's own thread.
    /// </summary>
    [Fact]
    public void Pages_copied_while_the_machine_runs_plus_a_later_delta_give_the_same_state()
    {
        var original = Repo.LoadGuest("bench");
        // Only written pages are copied: the upper half of RAM gets written, so that the copy takes a while.
        var noise = new byte[original.RamSize / 2];
        new Random(5).NextBytes(noise);
        Assert.True(original.TryWriteRam(MemoryMap.RamBase + original.RamSize / 2, noise));
        original.Run(20_000_000);
        original.ClearDirtyPages();
        byte[]? pages = null;
        var copier = new Thread(() => pages = MachineSnapshot.CapturePagesWhileRunning(original));
        copier.Start();
        ulong during = original.Position;
        while (copier.IsAlive) original.Run(50_000);
        during = original.Position - during;
        original.Run(1_000_000);
        Assert.True(during > 0, "the machine did not run while its pages were copied");
        Assert.NotEmpty(original.DirtyPages());

        var copy = new Machine(original.RamSize);
        MachineSnapshot.Restore(copy, pages!);
        MachineSnapshot.Restore(copy, MachineSnapshot.CaptureDelta(original));
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));
        Assert.Equal(original.RunUntilStopped(_ => { }), copy.RunUntilStopped(_ => { }));
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));
    }

    [Fact]
    public void Chained_deltas_apply_in_order()
    {
        var (original, inputs) = SleepingKv();
        var copy = RestoredKv(MachineSnapshot.CaptureFull(original), out _);
        original.ClearDirtyPages();
        for (int i = 1; i <= 3; i++)
        {
            Serve(original, inputs, $"{i} INCR k");
            byte[] delta = MachineSnapshot.CaptureDelta(original);
            original.ClearDirtyPages();
            MachineSnapshot.Restore(copy, delta);
            Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));
        }
    }

    [Fact]
    public void Dirty_pages_are_the_pages_stored_to()
    {
        var machine = new Prog
        {
            Sw(A1, T0, 0),          // page 3
            Sb(A1, T1, 0),          // last byte of page 4
            Sh(A1, T2, 0),          // straddles pages 5 and 6
            Lw(A2, A3, 0),          // loads do not dirty
            Wfi(),
        }.Load();
        machine.SetRegister(T0, Prog.Base + 0x3000);
        machine.SetRegister(T1, Prog.Base + 0x4FFF);
        machine.SetRegister(T2, Prog.Base + 0x5FFF);
        machine.SetRegister(A3, Prog.Base + 0xA000);
        machine.SetRegister(A1, 0x5A5A_5A5A); // zeroes into pages never written would leave them untouched
        machine.ClearDirtyPages();
        Assert.Empty(machine.DirtyPages());
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.Equal([3, 4, 5, 6], machine.DirtyPages().ToArray());

        machine.ClearDirtyPages();
        Assert.Empty(machine.DirtyPages());
        Assert.True(machine.TryWriteRam(Prog.Base + 0x9FFE, [1, 2, 3]));
        Assert.Equal([9, 10], machine.DirtyPages().ToArray());
    }

    [Fact]
    public void Packets_popped_into_ram_dirty_their_pages()
    {
        var inputs = new LiveInputs();
        var machine = new Prog
        {
            Li(T0, MemoryMap.Net), Li(T1, Prog.Base + 0x5000), Sw(T1, T0, 0x0C),
            Addi(T1, Zero, 64), Sw(T1, T0, 0x10), Wfi(),
        }.Load(inputs);
        machine.ClearDirtyPages();
        inputs.Deliver(1, "abc"u8.ToArray());
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.Equal([5], machine.DirtyPages().ToArray());
    }

    [Fact]
    public void Snapshot_keeps_queued_packets_fault_and_halt_state()
    {
        var inputs = new LiveInputs();
        var machine = new Prog { Wfi(), Ebreak() }.Load(inputs);
        Assert.Equal(StopReason.Waiting, machine.Run(10));
        inputs.Deliver(3, "queued"u8.ToArray());
        Assert.Equal(StopReason.Waiting, machine.Run(10)); // queued at the boundary, no interrupt enabled
        Assert.Equal(1, machine.QueuedPackets);

        var copy = new Machine(Prog.SmallRam);
        MachineSnapshot.Restore(copy, MachineSnapshot.CaptureFull(machine));
        Assert.Equal(1, copy.QueuedPackets);
        Assert.True(copy.IsWaiting);

        var faulted = new Prog { Ebreak() }.Load();
        Assert.Equal(StopReason.Faulted, faulted.Run(10));
        var faultedCopy = new Machine(Prog.SmallRam);
        MachineSnapshot.Restore(faultedCopy, MachineSnapshot.CaptureFull(faulted));
        Assert.Equal(faulted.Fault, faultedCopy.Fault);
        Assert.Equal(StopReason.Faulted, faultedCopy.Run(10));
    }

    [Fact]
    public void Restoring_replaces_ram_and_decoded_code()
    {
        var machine = new Prog { Addi(A0, Zero, 1), Wfi() }.Load();
        byte[] snapshot = MachineSnapshot.CaptureFull(machine);

        var other = new Prog { Addi(A0, Zero, 2), Wfi() }.Load();
        Assert.True(other.TryWriteRam(Prog.Base + 0x8000, [9, 9, 9, 9]));
        Assert.Equal(StopReason.Waiting, other.Run(10)); // decodes its own code
        Assert.Equal(2u, other[A0]);

        MachineSnapshot.Restore(other, snapshot);
        Assert.Equal(StopReason.Waiting, other.Run(10));
        Assert.Equal(1u, other[A0]);
        var stale = new byte[4];
        Assert.True(other.TryReadRam(Prog.Base + 0x8000, stale));
        Assert.Equal(new byte[4], stale);
    }

    [Fact]
    public void Restore_refuses_foreign_data_and_other_memory_sizes()
    {
        var machine = new Prog { Nop() }.Load();
        byte[] snapshot = MachineSnapshot.CaptureFull(machine);
        Assert.Throws<InvalidDataException>(() => MachineSnapshot.Restore(new Machine(2 * Prog.SmallRam), snapshot));
        Assert.Throws<InvalidDataException>(() => MachineSnapshot.Restore(new Machine(Prog.SmallRam), Encoding.ASCII.GetBytes("not a snapshot at all")));
    }

    [Fact]
    public void State_hash_sees_registers_and_memory()
    {
        var a = new Prog { Nop() }.Load();
        var b = new Prog { Nop() }.Load();
        Assert.Equal(StateHash.Compute(a), StateHash.Compute(b));
        b.SetRegister(7, 1);
        Assert.NotEqual(StateHash.Compute(a), StateHash.Compute(b));
        b.SetRegister(7, 0);
        Assert.Equal(StateHash.Compute(a), StateHash.Compute(b));
        Assert.True(b.TryWriteRam(Prog.Base + Prog.SmallRam - 1, [1]));
        Assert.NotEqual(StateHash.Compute(a), StateHash.Compute(b));
    }
}
