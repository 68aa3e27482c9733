using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Running;
using Lockstep.Engine.Snapshots;
using Lockstep.Host.Debugging;

namespace Lockstep.Host.Cli;

/// <summary>What `replay FILE` does with an export (<see cref="ExportFile"/>), as opposed to a log of a local recording.</summary>
public sealed record ExportReplayOptions(ulong? To, (uint Address, uint Length)? Dump, System.Net.IPEndPoint? Gdb, uint? Watch,
    ulong CheckpointInterval, bool Translate, bool Stats)
{
    public static ExportReplayOptions From(ulong? to, string[]? dump, System.Net.IPEndPoint? gdb, uint? watch, ulong interval, bool translate, bool stats)
    {
        (uint, uint)? range = null;
        if (dump is { Length: 2 })
        {
            uint address = DebugOptions.Address(dump[0], "--dump");
            if (!uint.TryParse(dump[1], out uint length) || length == 0 || length > ExportReplay.MaxDump)
                throw new UsageException($"--dump {dump[0]} {dump[1]}: LEN must be a byte count from 1 to {ExportReplay.MaxDump}");
            range = (address, length);
        }
        if ((to is not null || range is not null) && (gdb is not null || watch is not null))
            throw new UsageException("--to and --dump report where a replay stops; they cannot be used with --gdb or --watch");
        return new ExportReplayOptions(to, range, gdb, watch, interval, translate, stats);
    }
}

/// <summary>`replay FILE`: replays an export from its checkpoint; to its end, or to --to, and under gdb or --watch as a local recording.</summary>
public static class ExportReplay
{
    /// <summary>Longest --dump: the bytes go to the terminal.</summary>
    public const uint MaxDump = 1 << 20;

    private static readonly string[] AbiNames =
    [
        "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
        "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
    ];

    public static int Run(string path, ExportReplayOptions options)
    {
        var export = ExportFile.Read(path);
        var info = export.Info;
        var machine = ExportedMachine.Start(export, out _);
        machine.UseTranslator = options.Translate;
        if (options.To is { } beyond && beyond > info.EndPosition)
            throw new UsageException($"--to {beyond}: the export ends at instruction {info.EndPosition}");
        if (options.To is { } before && before < info.StartPosition)
            throw new UsageException($"--to {before}: the export starts at instruction {info.StartPosition}");
        Console.Error.WriteLine($"export of {info.VmName}: instructions {info.StartPosition:N0} to {info.EndPosition:N0}, "
            + $"{(export.Checkpoint is null ? "from boot" : $"from a checkpoint and {export.Increments.Count} increments")}; "
            + $"journal times {Time(info.StartTime)} to {Time(info.EndTime)}");

        var segments = export.Segments.Count > 0 ? export.Segments : [new LogSegment(info.FirstEntryIndex, info.StartPosition, [])];
        var history = new RecordedInputs(segments);
        bool reports = options.To is not null || options.Dump is not null || options.Watch is not null;
        var stdout = Console.OpenStandardOutput();
        var printer = new OutputPrinter(reports ? Console.OpenStandardError() : stdout);
        if (options.Gdb is { } endpoint)
        {
            string image = WriteImage(export);
            Console.Error.WriteLine($"gdb: the export's image (for symbols) is {image}; reverse execution goes back to instruction {info.StartPosition:N0}");
            int served = DebugSession.ServeGdb(new Timeline(machine, history, printer.Write, options.CheckpointInterval), endpoint, image);
            stdout.Flush();
            return served;
        }
        // Checkpoints serve only going back; these go forwards once.
        var timeline = new Timeline(machine, history, printer.Write, checkpointInterval: ulong.MaxValue);
        var clock = Stopwatch.StartNew();
        if (options.Watch is { } address) DebugSession.PrintWordChanges(timeline, address, Console.Out);
        else timeline.SeekTo(options.To ?? info.EndPosition);
        clock.Stop();
        if (options.Stats)
            Console.Error.WriteLine($"instructions: {machine.Position - info.StartPosition}  seconds: {clock.Elapsed.TotalSeconds:F3}");
        if (options.To is { } to && machine.Position != to)
            throw new LogFormatException($"replay stopped at instruction {machine.Position} before --to {to} ({StopOf(machine)})");
        ulong hash = StateHash.Compute(machine);
        if (reports && options.Watch is null) PrintRegisters(machine, hash, Console.Out);
        if (options.Dump is { } dump) PrintDump(machine, dump.Address, dump.Length, Console.Out);
        Console.Out.Flush();
        stdout.Flush();
        Console.Error.WriteLine($"state hash: 0x{hash:x16} at instruction {machine.Position}");
        if (options.To is null && options.Watch is null && machine.Position != info.EndPosition && !machine.IsHalted)
            throw new LogFormatException($"replay stopped at instruction {machine.Position} before the end of the export ({info.EndPosition}; {StopOf(machine)})");
        return ExitCodes.Success;
    }

    private static string StopOf(Machine machine) =>
        machine.Fault is { } fault ? $"the guest faulted: {fault}" : machine.IsHalted ? $"the guest halted with exit code {machine.ExitCode}" : "the log ran out";

    private static void PrintRegisters(Machine machine, ulong hash, TextWriter output)
    {
        output.WriteLine($"instruction {machine.Position}  pc 0x{machine.Pc:x8}  state hash 0x{hash:x16}");
        for (int row = 0; row < 8; row++)
        {
            var line = new StringBuilder();
            for (int column = 0; column < 4; column++)
            {
                int r = row * 4 + column;
                line.Append($"x{r,-2} {AbiNames[r],-4} 0x{machine[r]:x8}   ");
            }
            output.WriteLine(line.ToString().TrimEnd());
        }
    }

    private static void PrintDump(Machine machine, uint address, uint length, TextWriter output)
    {
        var bytes = new byte[length];
        if (!machine.TryReadRam(address, bytes)) throw new UsageException($"--dump 0x{address:x8} {length}: not all of it is guest RAM");
        for (uint offset = 0; offset < length; offset += 16)
        {
            var row = bytes.AsSpan((int)offset, (int)Math.Min(16, length - offset));
            string hex = string.Join(' ', row.ToArray().Select(b => b.ToString("x2")));
            string text = new(row.ToArray().Select(b => b is >= 0x20 and < 0x7F ? (char)b : '.').ToArray());
            output.WriteLine($"0x{address + offset:x8}  {hex,-47}  {text}");
        }
    }

    /// <summary>gdb reads symbols from the ELF file; the export carries it, so it is written out once per image.</summary>
    private static string WriteImage(ExportContents export)
    {
        string hash = Convert.ToHexStringLower(SHA256.HashData(export.Image))[..12];
        string name = string.Concat(export.Info.VmName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_'));
        string path = Path.Combine(Path.GetTempPath(), $"lockstep-{name}-{hash}.elf");
        if (!File.Exists(path)) File.WriteAllBytes(path, export.Image);
        return path;
    }

    private static string Time(DateTime? time) => time is { } t ? $"{t:yyyy-MM-dd HH:mm:ss.fff} UTC" : "(boot)";
}
