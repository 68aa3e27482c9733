using System.CommandLine;
using Lockstep.Host.Cli;

namespace Lockstep.Host.Bench;

/// <summary>`lockstep bench lockstep`: the data-path benchmark (not a test; prints figures and references).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var requests = new Option<int>("--requests") { Description = "requests per latency run", DefaultValueFactory = _ => 2000 };
        var guests = new Option<string>("--guests") { Description = "folder with kv.elf and bench.elf", DefaultValueFactory = _ => "guests/bin" };
        var secondaryCpu = new Option<int?>("--secondary-cpu")
        {
            Description = "run the secondary in its own process pinned to this core (start the benchmark itself under taskset on another)",
        };
        var tls = new Option<bool>("--tls") { Description = "instead: what TLS on the lockstep links costs (latency and throughput ratio, plain link alongside)" };
        var trials = new Option<int>("--trials") { Description = "alternating trials of the --tls comparison", DefaultValueFactory = _ => 3 };
        var lockstep = new Command("lockstep", "Latency, throughput, log bandwidth and re-protection pause of the lockstep data path") { requests, guests, secondaryCpu, tls, trials };
        lockstep.SetAction(parse => LocalCommands.Guarded(() =>
        {
            if (!parse.GetValue(tls)) return LockstepBenchmark.Run(parse.GetValue(guests)!, parse.GetValue(requests), parse.GetValue(secondaryCpu));
            if (parse.GetValue(secondaryCpu) is not null) throw new UsageException("--tls runs both sides in this process: leave out --secondary-cpu");
            if (parse.GetValue(trials) < 1 || parse.GetValue(requests) < 1) throw new UsageException("--trials and --requests must be at least 1");
            return TlsBenchmark.Run(parse.GetValue(guests)!, parse.GetValue(requests), parse.GetValue(trials));
        }));

        var name = new Option<string>("--name") { Required = true };
        var secondary = new Command("secondary", "(used by --secondary-cpu) a bench secondary in a process of its own") { name };
        secondary.Hidden = true;
        secondary.SetAction(parse => BenchSecondaryProcess.Run(parse.GetValue(name)!));
        var echo = new Command("echo", "(used by --secondary-cpu) a TCP echo server in a process of its own, for the round-trip reference") { Hidden = true };
        echo.SetAction(_ => TcpEcho.Serve());
        var debugger = DebuggerCommand();
        return new Command("bench", "Benchmarks (figures printed next to references measured in the same run)") { lockstep, debugger, secondary, echo };
    }

    private static Command DebuggerCommand()
    {
        var guest = new Option<string>("--guest") { Description = "compute guest to record", DefaultValueFactory = _ => "guests/bin/bench-long.elf" };
        var instructions = new Option<ulong>("--instructions") { Description = "length of the recording", DefaultValueFactory = _ => 1_000_000_000 };
        var interval = new Option<ulong>("--checkpoint-interval") { Description = "instructions between checkpoints", DefaultValueFactory = _ => Debugging.Timeline.DefaultCheckpointInterval };
        var samples = new Option<int>("--samples") { Description = "random starting positions per figure", DefaultValueFactory = _ => 50 };
        var command = new Command("debugger", "Reverse-step and reverse-continue latency on a long recording, next to a replay from the start") { guest, instructions, interval, samples };
        command.SetAction(parse => LocalCommands.Guarded(() =>
        {
            if (parse.GetValue(interval) == 0 || parse.GetValue(samples) < 1 || parse.GetValue(instructions) == 0)
                throw new UsageException("--checkpoint-interval, --samples and --instructions must be at least 1");
            return Debugging.ReverseBenchmark.Run(parse.GetValue(guest)!, parse.GetValue(instructions), parse.GetValue(interval), parse.GetValue(samples), Console.Out);
        }));
        return command;
    }
}
