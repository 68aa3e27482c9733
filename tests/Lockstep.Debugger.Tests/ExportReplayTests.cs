using System.Text.RegularExpressions;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Debugger.Tests;

/// <summary>`replay FILE` of an export: --to, --dump, --watch and gdb (reverse execution back to the export's start), and damaged files refused.</summary>
public sealed partial class ExportReplayTests(KvRecording kv) : IClassFixture<KvRecording>
{
    /// <summary>Starts a little before the second call of the request handler, so that the export begins mid-run.</summary>
    private (string Path, ulong Start, ForwardReplay Reference) Export(string name = "kv.export")
    {
        var reference = ForwardReplay.Of(kv, [kv.Symbols["store_upsert"]]);
        ulong start = reference.Visits[1].Position - 5_000;
        return (KvExport.Write(kv, start / 2, start, name), start, reference);
    }

    [Fact]
    public void Gdb_on_an_export_breaks_steps_back_and_goes_back_no_further_than_its_start()
    {
        var (path, start, _) = Export();
        var (gdb, lockstep) = GdbSession.Run(["replay", path, "--gdb", "127.0.0.1:0", "--checkpoint-interval", "500000"], KvRecording.Image,
            "monitor position", "break store_upsert", "continue", "monitor position",
            "reverse-stepi", "monitor position", "reverse-continue", "monitor position");
        var positions = GdbSession.Positions(gdb);
        Assert.True(positions.Count == 4, $"gdb printed {positions.Count} positions:\n{gdb}\n{lockstep.Stderr}");
        uint breakpoint = Convert.ToUInt32(BreakpointAt().Match(gdb).Groups[1].Value, 16); // after the prologue, where gdb put it
        var visit = ForwardReplay.Of(kv, [breakpoint]).Visits.First(v => v.Position > start);
        Assert.Equal(new Visit(start, ForwardReplay.PcAt(kv, start)), positions[0]);
        Assert.Equal(visit, positions[1]);
        Assert.Equal(new Visit(visit.Position - 1, ForwardReplay.PcAt(kv, visit.Position - 1)), positions[2]);
        Assert.Equal(positions[0], positions[3]); // no breakpoint in between: back to where the export starts
        Assert.Contains("No more reverse-execution history", gdb);
        Assert.Equal(0, lockstep.ExitCode);
    }

    [Fact]
    public void To_prints_the_registers_pc_and_state_hash_of_a_replay_from_the_start_and_dump_its_memory()
    {
        var (path, start, _) = Export();
        ulong to = start + 12_345;
        var expected = KvExport.ReplayedTo(kv, to);
        uint freeCount = kv.Symbols["free_count"];
        var result = LockstepProgram.Run("replay", path, "--to", $"{to}", "--dump", $"0x{freeCount:x}", "8");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"instruction {to}  pc 0x{expected.Pc:x8}  state hash 0x{StateHash.Compute(expected):x16}", result.Stdout);
        Assert.Matches($@"x10 a0\s+0x{expected[10]:x8}", result.Stdout);
        Assert.Matches($@"x2\s+sp\s+0x{expected[2]:x8}", result.Stdout);
        var bytes = new byte[8];
        Assert.True(expected.TryReadRam(freeCount, bytes));
        Assert.Contains($"0x{freeCount:x8}  {string.Join(' ', bytes.Select(b => b.ToString("x2")))}", result.Stdout);
    }

    [Fact]
    public void Watch_on_an_export_prints_the_changes_after_its_start()
    {
        var (path, start, _) = Export();
        uint freeCount = kv.Symbols["free_count"];
        var changes = ForwardReplay.Of(kv, [], freeCount).Changes.Where(c => c.Position > start).ToList();
        Assert.NotEmpty(changes);
        var result = LockstepProgram.Run("replay", path, "--watch", $"0x{freeCount:x}");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var printed = ChangeLine().Matches(result.Stdout).Select(m => ulong.Parse(m.Groups[1].Value)).ToList();
        Assert.Equal(changes.Select(c => c.Position), printed);
    }

    [Fact]
    public void A_damaged_or_truncated_export_is_refused_in_one_line_naming_the_record()
    {
        var (path, _, _) = Export();
        var bytes = File.ReadAllBytes(path);
        string damaged = Path.Combine(kv.Folder, "damaged.export");
        var flipped = (byte[])bytes.Clone();
        flipped[^100] ^= 0x40;
        File.WriteAllBytes(damaged, flipped);
        AssertRefused(LockstepProgram.Run("replay", damaged), "export corrupt: record 4", "fails its checksum");
        File.WriteAllBytes(damaged, bytes[..(bytes.Length - 30)]);
        AssertRefused(LockstepProgram.Run("replay", damaged), "export truncated: record 4", "declares");
        File.WriteAllBytes(damaged, "not an export at all"u8.ToArray());
        AssertRefused(LockstepProgram.Run("replay", damaged), "is not a Lockstep export", "");
    }

    [Fact]
    public void To_outside_the_export_and_to_with_gdb_are_usage_errors()
    {
        var (path, start, _) = Export();
        Assert.Contains("the export starts at instruction", Usage(LockstepProgram.Run("replay", path, "--to", $"{start - 1}")));
        Assert.Contains("the export ends at instruction", Usage(LockstepProgram.Run("replay", path, "--to", $"{ulong.MaxValue}")));
        Assert.Contains("cannot be used with --gdb", Usage(LockstepProgram.Run("replay", path, "--to", $"{start}", "--gdb", "127.0.0.1:0")));
        Assert.Contains("LEN must be", Usage(LockstepProgram.Run("replay", path, "--dump", "0x80000000", "0")));
        Assert.Contains("replay an export", Usage(LockstepProgram.Run("replay", KvRecording.Image, "--log", kv.LogPath, "--to", "5")));
    }

    private static string Usage(ProgramResult result)
    {
        Assert.Equal(64, result.ExitCode);
        return Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static void AssertRefused(ProgramResult result, string first, string second)
    {
        Assert.Equal(65, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("lockstep: ", line);
        Assert.Contains(first, line);
        Assert.Contains(second, line);
    }

    [GeneratedRegex(@"Breakpoint 1 at 0x([0-9a-f]+)")]
    private static partial Regex BreakpointAt();

    [GeneratedRegex(@"instruction (\d+) pc 0x[0-9a-f]+: 0x[0-9a-f]+ -> 0x[0-9a-f]+")]
    private static partial Regex ChangeLine();
}
