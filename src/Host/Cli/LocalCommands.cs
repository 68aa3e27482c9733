using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Running;
using Lockstep.Engine.Snapshots;
using Lockstep.Host.Debugging;

namespace Lockstep.Host.Cli;

/// <summary>`run`, `record` and `replay`: one machine in this process, no cluster.</summary>
public static class LocalCommands
{
    private static readonly Argument<string> Image = new("IMAGE") { Description = "ELF32 RISC-V executable" };

    private static Option<string> MemoryOption() => new("--memory") { Description = "guest RAM size, e.g. 16M", DefaultValueFactory = _ => "16M" };

    private static Option<bool> NoTranslateOption() => new("--no-translate") { Description = "run every instruction in the interpreter instead of compiling hot code" };

    private static Option<string?> GdbOption(string what) => new("--gdb") { Description = $"serve the GDB remote protocol on HOST:PORT (e.g. 127.0.0.1:1234) and {what} under gdb's control" };

    public static Command Run()
    {
        var memory = MemoryOption();
        var stats = new Option<bool>("--stats") { Description = "print instructions, time and MIPS on stderr at the end" };
        var noTranslate = NoTranslateOption();
        var gdb = GdbOption("run the guest live (forwards only)");
        var command = new Command("run", "Run a guest unprotected; console to stdout, exit status = the guest's exit code") { Image, memory, stats, noTranslate, gdb };
        command.SetAction(parse => Guarded(() =>
        {
            uint ram = ParseMemory(parse.GetValue(memory)!);
            var gdbEndpoint = parse.GetValue(gdb) is { } gdbText ? DebugOptions.Endpoint(gdbText) : null;
            var inputs = new LiveInputs();
            var machine = GuestImage.Load(parse.GetValue(Image)!, ram, inputs, out _);
            machine.UseTranslator = !parse.GetValue(noTranslate);
            var stdout = Console.OpenStandardOutput();
            var printer = new OutputPrinter(stdout);
            if (gdbEndpoint is not null)
            {
                int served = DebugSession.ServeGdb(new Timeline(machine, new LiveHistory(inputs), printer.Write), gdbEndpoint, parse.GetValue(Image)!);
                stdout.Flush();
                return served;
            }
            var clock = Stopwatch.StartNew();
            var end = new LocalRunner(machine, inputs, printer.Write).Run([], stopWhenIdle: false);
            clock.Stop();
            stdout.Flush();
            if (parse.GetValue(stats)) PrintStats(machine, clock.Elapsed);
            return Finish(machine, end);
        }));
        return command;
    }

    public static Command Record()
    {
        var memory = MemoryOption();
        var log = new Option<string>("--log") { Description = "file to write the event log to", Required = true };
        var netInput = new Option<string?>("--net-input") { Description = "file with one request packet per line, delivered from peer 1 over time" };
        var spacing = new Option<double>("--net-spacing-ms") { Description = "mean gap between input packets", DefaultValueFactory = _ => 2.0 };
        var stats = new Option<bool>("--stats") { Description = "print instructions, time, MIPS and log size on stderr" };
        var noTranslate = NoTranslateOption();
        var command = new Command("record", "Run a guest while recording every non-deterministic input") { Image, memory, log, netInput, spacing, stats, noTranslate };
        command.SetAction(parse => Guarded(() =>
        {
            uint ram = ParseMemory(parse.GetValue(memory)!);
            var packets = ReadNetInput(parse.GetValue(netInput), parse.GetValue(spacing));
            var recorder = new EventRecorder();
            var inputs = new LiveInputs(recorder);
            var machine = GuestImage.Load(parse.GetValue(Image)!, ram, inputs, out byte[] imageHash);
            machine.UseTranslator = !parse.GetValue(noTranslate);
            using var file = new FileStream(parse.GetValue(log)!, FileMode.Create, FileAccess.Write);
            LogFile.WriteHeader(file, new LogHeader(ram, imageHash));
            var stdout = Console.OpenStandardOutput();
            var printer = new OutputPrinter(stdout);
            var clock = Stopwatch.StartNew();
            var runner = new LocalRunner(machine, inputs, printer.Write)
            {
                AfterSlice = () =>
                {
                    if (recorder.PendingCount >= 4096) LogFile.WriteSegment(file, recorder.Cut(machine.Position));
                },
            };
            var end = runner.Run(packets, stopWhenIdle: true);
            clock.Stop();
            ulong hash = StateHash.Compute(machine);
            LogFile.WriteSegment(file, recorder.Cut(machine.Position, final: true, hash));
            stdout.Flush();
            if (parse.GetValue(stats))
            {
                PrintStats(machine, clock.Elapsed);
                Console.Error.WriteLine($"log: {recorder.EntryCount} entries, {file.Length} bytes");
            }
            Console.Error.WriteLine($"state hash: 0x{hash:x16} at instruction {machine.Position}");
            return Finish(machine, end);
        }));
        return command;
    }

    public static Command Replay()
    {
        var log = new Option<string?>("--log") { Description = "event log written by record (without it, IMAGE is an export written by `vm export`)" };
        var stats = new Option<bool>("--stats") { Description = "print instructions, time and MIPS on stderr" };
        var to = new Option<ulong?>("--to") { Description = "export only: stop at this instruction count and print registers, pc and the state hash there" };
        var dump = new Option<string[]>("--dump") { Description = "export only: print LEN bytes of guest memory at ADDR where the replay stops", Arity = new ArgumentArity(2, 2), AllowMultipleArgumentsPerToken = true };
        var noTranslate = NoTranslateOption();
        var gdb = GdbOption("replay the recording, forwards and backwards,");
        var watch = new Option<string?>("--watch") { Description = "print every instruction count at which the 32-bit word at ADDR changed, with the writer's pc (guest output goes to stderr)" };
        var interval = new Option<ulong>("--checkpoint-interval") { Description = "with --gdb: instructions between the snapshots reverse execution starts from", DefaultValueFactory = _ => Timeline.DefaultCheckpointInterval };
        var command = new Command("replay", "Replay a recording: same console output, same final state, or the divergence named") { Image, log, stats, noTranslate, gdb, watch, interval, to, dump };
        command.SetAction(parse => Guarded(() =>
        {
            var gdbEndpoint = parse.GetValue(gdb) is { } gdbText ? DebugOptions.Endpoint(gdbText) : null;
            uint? watchAddress = parse.GetValue(watch) is { } watchText ? DebugOptions.Address(watchText, "--watch") : null;
            if (gdbEndpoint is not null && watchAddress is not null) throw new UsageException("--gdb and --watch cannot be used together (in gdb, use a watchpoint)");
            if (parse.GetValue(interval) == 0) throw new UsageException("--checkpoint-interval must be at least 1");
            if (parse.GetValue(log) is not { } logPath)
                return ExportReplay.Run(parse.GetValue(Image)!, ExportReplayOptions.From(parse.GetValue(to), parse.GetValue(dump), gdbEndpoint, watchAddress,
                    parse.GetValue(interval), !parse.GetValue(noTranslate), parse.GetValue(stats)));
            if (parse.GetValue(to) is not null || parse.GetValue(dump) is { Length: > 0 }) throw new UsageException("--to and --dump replay an export (FILE without --log)");
            LogHeader header;
            List<LogSegment> segments;
            try
            {
                (header, segments) = LogFile.Read(logPath);
            }
            catch (IOException e)
            {
                throw new LogFormatException($"cannot read log {logPath}: {e.Message}");
            }
            var inputs = new ReplayInputs();
            var machine = GuestImage.Load(parse.GetValue(Image)!, header.MemorySize, inputs, out byte[] imageHash);
            machine.UseTranslator = !parse.GetValue(noTranslate);
            if (!imageHash.AsSpan().SequenceEqual(header.ImageSha256))
                throw new LogFormatException($"{logPath} was recorded from a different image than {parse.GetValue(Image)}");
            foreach (var segment in segments) inputs.Append(segment);
            var stdout = Console.OpenStandardOutput();
            var printer = new OutputPrinter(watchAddress is null ? stdout : Console.OpenStandardError());
            if (gdbEndpoint is not null)
            {
                var timeline = new Timeline(machine, new RecordedInputs(segments), printer.Write, parse.GetValue(interval));
                int served = DebugSession.ServeGdb(timeline, gdbEndpoint, parse.GetValue(Image)!);
                stdout.Flush();
                return served;
            }
            var clock = Stopwatch.StartNew();
            var reason = StopReason.NeedLog;
            if (watchAddress is { } address)
            {
                // Checkpoints serve only going back; the watch goes forwards once.
                var timeline = new Timeline(machine, new RecordedInputs(segments), printer.Write, checkpointInterval: ulong.MaxValue);
                DebugSession.PrintWordChanges(timeline, address, Console.Out);
                if (machine.IsHalted) reason = machine.Fault is null ? StopReason.Halted : StopReason.Faulted;
            }
            else reason = machine.RunUntilStopped(printer.Write);
            clock.Stop();
            stdout.Flush();
            if (parse.GetValue(stats)) PrintStats(machine, clock.Elapsed);
            ulong hash = StateHash.Compute(machine);
            Console.Error.WriteLine($"state hash: 0x{hash:x16} at instruction {machine.Position}");
            var ended = (ReplayInputs)machine.Inputs; // --watch may have gone back to a snapshot, with inputs of its own
            if (reason == StopReason.NeedLog && machine.Position != ended.Horizon)
                throw new LogFormatException($"replay stopped at instruction {machine.Position} before the end of the log ({ended.Horizon})");
            if (ended.NextEntryIndex != ended.ReceivedEntryIndex)
                throw new DivergenceException(ended.NextEntryIndex, $"divergence: replay ended at instruction {machine.Position} with log entries from #{ended.NextEntryIndex} unused");
            if (ended.FinalStateHash is ulong recorded && recorded != hash)
            {
                Console.Error.WriteLine($"lockstep: replay diverged: final state 0x{hash:x16}, the recording ended in 0x{recorded:x16}");
                return ExitCodes.ReplayMismatch;
            }
            Console.Error.WriteLine("replay matches the recording");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static int Finish(Machine machine, RunEnd end)
    {
        if (machine.Fault is { } fault)
        {
            Console.Error.WriteLine($"lockstep: {fault} after {machine.Position} instructions");
            return ExitCodes.GuestFault;
        }
        return end == RunEnd.Halted ? machine.ExitCode : ExitCodes.Success;
    }

    private static void PrintStats(Machine machine, TimeSpan elapsed) =>
        Console.Error.WriteLine($"instructions: {machine.Position}  seconds: {elapsed.TotalSeconds:F3}  MIPS: {machine.Position / elapsed.TotalSeconds / 1e6:F1}"
            + $"  compiled: {100.0 * machine.CompiledInstructions / Math.Max(machine.Position, 1):F1} % in {machine.CompiledRegions} regions");

    private static uint ParseMemory(string text) =>
        SizeParser.TryParse(text, out uint bytes, out string error) ? bytes : throw new UsageException(error);

    private static List<ScheduledPacket> ReadNetInput(string? path, double spacingMs)
    {
        if (path is null) return [];
        try
        {
            return NetInputFile.Read(path, spacingMs, new Random());
        }
        catch (NetInputException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>Runs a command body, turning expected failures into one line on stderr and a status.</summary>
    public static int Guarded(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (UsageException e) { return Fail(e.Message, ExitCodes.Usage); }
        catch (ImageException e) { return Fail(e.Message, ExitCodes.BadInput); }
        catch (LogFormatException e) { return Fail(e.Message, ExitCodes.BadInput); }
        catch (DivergenceException e) { return Fail(e.Message, ExitCodes.ReplayMismatch); }
        catch (IOException e) { return Fail(e.Message, ExitCodes.BadInput); }
    }

    private static int Fail(string message, int code)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"lockstep: {message}");
        return code;
    }
}
