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
        var lockstep = new Command("lockstep", "Latency, throughput, log bandwidth and re-protection pause of the lockstep data path") { requests, guests, secondaryCpu };
        lockstep.SetAction(parse => LocalCommands.Guarded(() =>
            LockstepBenchmark.Run(parse.GetValue(guests)!, parse.GetValue(requests), parse.GetValue(secondaryCpu))));

        var name = new Option<string>("--name") { Required = true };
        var secondary = new Command("secondary", "(used by --secondary-cpu) a bench secondary in a process of its own") { name };
        secondary.Hidden = true;
        secondary.SetAction(parse => BenchSecondaryProcess.Run(parse.GetValue(name)!));
        var echo = new Command("echo", "(used by --secondary-cpu) a TCP echo server in a process of its own, for the round-trip reference") { Hidden = true };
        echo.SetAction(_ => TcpEcho.Serve());
        return new Command("bench", "Benchmarks (figures printed next to references measured in the same run)") { lockstep, secondary, echo };
    }
}
