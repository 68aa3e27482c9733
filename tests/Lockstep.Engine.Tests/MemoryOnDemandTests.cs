using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

/// <summary>
/// RAM takes memory only for pages written with something other than zero (touched pages);
/// every other page reads zero. Snapshots and state hashes look at touched pages only.
/// </summary>
public class MemoryOnDemandTests
{
    private const int PageSize = MemoryMap.PageSize;

    private static uint PageAddress(int page) => Prog.Base + (uint)(page * PageSize);

    [Fact]
    public void A_new_machine_has_no_page_touched_and_reads_zero()
    {
        var machine = new Machine(Prog.SmallRam);
        Assert.Equal(0, machine.TouchedPageCount);
        Assert.Empty(machine.TouchedPages());
        var bytes = new byte[Prog.SmallRam];
        Assert.True(machine.TryReadRam(Prog.Base, bytes));
        Assert.All(bytes, b => Assert.Equal(0, b));
        Assert.Equal(0, machine.TouchedPageCount); // reads commit nothing
    }

    [Fact]
    public void Zero_stores_into_pages_never_written_leave_them_untouched()
    {
        var machine = new Prog
        {
            Sw(Zero, T0, 0),        // page 4
            Sh(Zero, A4, 0),        // page 5
            Sb(Zero, A5, 0),        // page 6
            Sw(Zero, T1, 0),        // across pages 8 and 9
            Sw(A1, T2, 0),          // page 10: not zero
            Wfi(),
        }.Load();
        machine.SetRegister(T0, PageAddress(4));
        machine.SetRegister(A4, PageAddress(5) + 6);
        machine.SetRegister(A5, PageAddress(6) + 4095);
        machine.SetRegister(T1, PageAddress(9) - 2);
        machine.SetRegister(T2, PageAddress(10) + 8);
        machine.SetRegister(A1, 0xA1A1_A1A1);
        machine.ClearDirtyPages();
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.Equal([0, 10], machine.TouchedPages().ToArray()); // the program, and the one non-zero store
        Assert.Equal([10], machine.DirtyPages().ToArray());
        var word = new byte[4];
        Assert.True(machine.TryReadRam(PageAddress(10) + 8, word));
        Assert.Equal(0xA1A1_A1A1u, BitConverter.ToUInt32(word));
    }

    [Fact]
    public void Zero_stores_into_written_pages_are_stores()
    {
        var machine = new Prog { Sw(A1, T0, 0), Sw(Zero, T0, 0), Lw(A2, T0, 0), Wfi() }.Load();
        machine.SetRegister(T0, PageAddress(4));
        machine.SetRegister(A1, 77);
        machine.SetRegister(A2, 99);
        Assert.Equal(StopReason.Budget, machine.Run(1));
        machine.ClearDirtyPages();
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.Equal(0u, machine[A2]);
        Assert.Equal([4], machine.DirtyPages().ToArray()); // the zero store changed the page: a delta must carry it
        Assert.Contains(4, machine.TouchedPages());
    }

    [Fact]
    public void Host_writes_of_zeroes_touch_only_pages_with_something_else()
    {
        var machine = new Machine(Prog.SmallRam);
        var data = new byte[3 * PageSize];
        data[PageSize + 17] = 5; // only the middle page holds something
        Assert.True(machine.TryWriteRam(PageAddress(2), data));
        Assert.Equal([3], machine.TouchedPages().ToArray());
        Assert.Equal([3], machine.DirtyPages().ToArray());
        Assert.False(machine.TryWriteRam(PageAddress(15), data)); // beyond RAM: refused, nothing written
        Assert.Equal([3], machine.TouchedPages().ToArray());
    }

    [Fact]
    public void Loading_an_image_does_not_commit_its_bss()
    {
        byte[] image = Repo.GuestImage("kv");
        var segments = ElfLoader.Parse(image, MemoryMap.DefaultRamSize, out _);
        long bss = segments.Sum(s => (long)s.MemorySize - s.FileBytes.Length);
        Assert.True(bss > 1024 * 1024, "kv is expected to have a large .bss");
        var machine = Repo.LoadGuest("kv");
        int filePages = segments.Sum(s => s.FileBytes.Length / PageSize + 2);
        Assert.InRange(machine.TouchedPageCount, 1, filePages);
    }

    /// <summary>kv clears its 9 MiB .bss at start (the SDK's crt0 does): none of that may take memory.</summary>
    [Fact]
    public void An_idle_kv_touches_few_pages_and_snapshots_small()
    {
        var machine = Repo.LoadGuest("kv", new LiveInputs());
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
        Assert.InRange(machine.TouchedPageCount, 1, 64);
        byte[] snapshot = MachineSnapshot.CaptureFull(machine);
        Assert.InRange(snapshot.Length, PageSize, 64 * (PageSize + 4) + 4096);

        var copy = new Machine(MemoryMap.DefaultRamSize, new LiveInputs());
        MachineSnapshot.Restore(copy, snapshot);
        Assert.Equal(StateHash.Compute(machine), StateHash.Compute(copy));
        Assert.True(copy.TouchedPageCount <= machine.TouchedPageCount);
        byte[] pages = MachineSnapshot.CapturePagesWhileRunning(machine);
        Assert.True(pages.Length < snapshot.Length);
    }

    [Fact]
    public void Restoring_a_full_snapshot_gives_back_every_page_it_does_not_hold()
    {
        var small = new Prog { Wfi() }.Load();
        byte[] snapshot = MachineSnapshot.CaptureFull(small);
        var machine = new Machine(Prog.SmallRam);
        var noise = new byte[Prog.SmallRam];
        new Random(3).NextBytes(noise);
        Assert.True(machine.TryWriteRam(Prog.Base, noise));
        Assert.Equal(machine.PageCount, machine.TouchedPageCount);

        MachineSnapshot.Restore(machine, snapshot);
        Assert.Equal([0], machine.TouchedPages().ToArray());
        Assert.Equal(1, machine.TouchedPageCount);
        Assert.Equal(StateHash.Compute(small), StateHash.Compute(machine));
        var bytes = new byte[PageSize];
        Assert.True(machine.TryReadRam(PageAddress(7), bytes));
        Assert.All(bytes, b => Assert.Equal(0, b));
    }

    [Fact]
    public void The_state_hash_depends_on_contents_not_on_which_pages_were_touched()
    {
        var written = new Machine(Prog.SmallRam);
        var untouched = new Machine(Prog.SmallRam);
        Assert.True(written.TryWriteRam(PageAddress(5), [1, 2, 3]));
        Assert.NotEqual(StateHash.Compute(untouched), StateHash.Compute(written));
        Assert.True(written.TryWriteRam(PageAddress(5), [0, 0, 0]));
        Assert.Contains(5, written.TouchedPages());
        Assert.Equal(StateHash.Compute(untouched), StateHash.Compute(written));
        Assert.True(written.TryWriteRam(PageAddress(6), [9]));
        Assert.True(untouched.TryWriteRam(PageAddress(5), [9])); // same bytes, another page
        Assert.NotEqual(StateHash.Compute(untouched), StateHash.Compute(written));
    }

    [Fact]
    public void The_largest_memory_costs_only_what_is_written()
    {
        const uint largest = 0x7FFF_F000;
        var machine = new Prog { Sw(A1, T0, 0), Lw(A2, T0, 0), Lw(A3, T1, 0), Wfi() }.Load(ramSize: largest);
        machine.SetRegister(T0, Prog.Base + largest - 4);
        machine.SetRegister(T1, Prog.Base + largest / 2);
        machine.SetRegister(A1, 0xFEED_F00D);
        machine.SetRegister(A3, 5);
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.Null(machine.Fault);
        Assert.Equal(0xFEED_F00Du, machine[A2]);
        Assert.Equal(0u, machine[A3]);
        Assert.Equal([0, machine.PageCount - 1], machine.TouchedPages().ToArray());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(16)]
    public void A_page_outside_ram_is_refused(int page)
    {
        var machine = new Machine(Prog.SmallRam);
        Assert.Throws<ArgumentOutOfRangeException>(() => machine.Page(page).Length);
    }
}
