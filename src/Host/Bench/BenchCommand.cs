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
        var lockstep = new Command("lockstep", "Latency, throughput, log bandwidth and re-protection pause of the lockstep data path") { requests, guests };
        lockstep.SetAction(parse => LocalCommands.Guarded(() => LockstepBenchmark.Run(parse.GetValue(guests)!, parse.GetValue(requests))));
        return new Command("bench", "Benchmarks (figures printed next to references measured in the same run)") { lockstep };
    }
}
