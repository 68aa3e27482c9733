using System.Text.RegularExpressions;

namespace Lockstep.Debugger.Tests;

/// <summary>
/// Debian's gdb-multiarch, in batch mode, against `lockstep replay --gdb` of a recorded kv run:
/// every place gdb stops (by `monitor position`, the instruction count and pc) is checked against
/// a forward replay of the same recording one instruction at a time.
/// </summary>
public sealed partial class GdbEndToEndTests(KvRecording kv) : IClassFixture<KvRecording>
{
    private string[] Replay => ["replay", KvRecording.Image, "--log", kv.LogPath, "--gdb", "127.0.0.1:0", "--checkpoint-interval", "500000"];

    [Fact]
    public void Break_on_the_handler_read_a_register_then_reverse_stepi_and_reverse_continue()
    {
        var (gdb, lockstep) = GdbSession.Run(Replay, KvRecording.Image,
            "break store_upsert", "continue", "monitor position", "info registers a0",
            "continue", "monitor position",
            "reverse-stepi", "monitor position",
            "reverse-continue", "monitor position");
        uint breakpoint = Convert.ToUInt32(BreakpointAt().Match(gdb).Groups[1].Value, 16);
        var reference = ForwardReplay.Of(kv, [breakpoint]);
        Assert.True(reference.Visits.Count >= 2, $"the recording visits 0x{breakpoint:x8} {reference.Visits.Count} times");

        var positions = GdbSession.Positions(gdb);
        Assert.True(positions.Count == 4, $"gdb printed {positions.Count} positions:\n{gdb}");
        Assert.Equal(reference.Visits[0], positions[0]);
        Assert.Equal(reference.Visits[1], positions[1]);
        ulong back = reference.Visits[1].Position - 1;
        Assert.Equal(new Visit(back, ForwardReplay.PcAt(kv, back)), positions[2]);
        Assert.Equal(reference.Visits[0], positions[3]);

        var atFirst = kv.NewReplay(out _, translate: false);
        while (atFirst.Position < reference.Visits[0].Position) { atFirst.Run(reference.Visits[0].Position - atFirst.Position); atFirst.Outputs.Clear(); }
        Assert.Equal($"{atFirst[10]:x}", RegisterA0().Match(gdb).Groups[1].Value);
        Assert.Equal(0, lockstep.ExitCode);
    }

    [Fact]
    public void A_watchpoint_stops_at_the_instruction_that_wrote_the_value_both_ways()
    {
        uint freeCount = kv.Symbols["free_count"];
        var reference = ForwardReplay.Of(kv, [kv.Symbols["store_upsert"]], freeCount);
        ulong start = reference.Visits[0].Position;
        var written = reference.Changes.First(c => c.Position > start);

        var (gdb, lockstep) = GdbSession.Run(Replay, KvRecording.Image,
            "break store_upsert", "continue", "delete",
            "watch *(unsigned int *)&free_count", "continue", "monitor position",
            "reverse-continue", "monitor position", "x/i $pc");
        var positions = GdbSession.Positions(gdb);
        Assert.True(positions.Count == 2, $"gdb printed {positions.Count} positions:\n{gdb}");
        Assert.Contains($"Old value = {written.Before}", gdb);
        Assert.Contains($"New value = {written.After}", gdb);
        Assert.Equal(written.Position, positions[0].Position);                      // just after the store, as gdb shows a watchpoint
        Assert.Equal(new Visit(written.Position - 1, written.Pc), positions[1]);      // going back: at the store itself
        Assert.Matches($@"=> 0x{written.Pc:x8} <store_upsert\+\d+>:\s+sw\s", gdb);
        Assert.Equal(0, lockstep.ExitCode);
    }

    [Fact]
    public void Registers_and_csrs_come_from_the_target_description()
    {
        var (gdb, _) = GdbSession.Run(Replay, KvRecording.Image, "break on_trap", "continue", "info registers pc mcause mtvec mstatus", "print $a0");
        Assert.Matches(@"mcause\s+0x8000000b", gdb);                                   // the network interrupt
        Assert.Matches($@"mtvec\s+0x{kv.Symbols["trap_entry"]:x8}", gdb);
        Assert.Matches(@"\$1 = -?\d+", gdb);
    }

    [Fact]
    public void A_live_run_under_gdb_goes_forwards_to_the_guest_exit_and_refuses_to_go_back()
    {
        string hello = LockstepProgram.Guest("hello");
        var (gdb, lockstep) = GdbSession.Run(["run", hello, "--gdb", "127.0.0.1:0"], hello, "stepi", "reverse-stepi", "continue");
        Assert.Contains("exited normally", gdb);
        Assert.Contains("does not support this command", gdb); // a live run does not advertise reverse execution
        Assert.Contains("Hello", lockstep.Stdout, StringComparison.OrdinalIgnoreCase);
    }

    [GeneratedRegex(@"Breakpoint 1 at 0x([0-9a-f]+)")]
    private static partial Regex BreakpointAt();

    [GeneratedRegex(@"a0\s+0x([0-9a-f]+)")]
    private static partial Regex RegisterA0();
}
