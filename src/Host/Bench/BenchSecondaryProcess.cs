using System.Diagnostics;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Engine.Cpu;

namespace Lockstep.Host.Bench;

/// <summary>
/// A secondary in a process of its own, started under `taskset` on another core, so that a benchmark
/// on one machine can keep the secondary's replay off the primary's CPU, as a second host would.
/// </summary>
public static class BenchSecondaryProcess
{
    /// <summary>The child's side (`lockstep bench secondary`): prints its port, replays until the primary says goodbye.</summary>
    public static int Run(string name, string claimsPath)
    {
        var ended = new ManualResetEventSlim(false);
        var secondary = new SecondaryRuntime(name, MemoryMap.DefaultRamSize, 1, "127.0.0.1", LockstepSettings.Default,
            new SqliteClaimStore(claimsPath), "bench-secondary", new EndSignal(ended));
        Console.WriteLine(secondary.Start());
        Console.Out.Flush();
        ended.Wait();
        return 0;
    }

    /// <summary>The parent's side: starts the child pinned to <paramref name="cpu"/> and returns it with the port it listens on.</summary>
    public static (Process Child, int Port) Start(string name, string claimsPath, int cpu) =>
        PinnedChild.Start(cpu, "secondary", "--name", name, "--claims", claimsPath);

    private sealed class EndSignal(ManualResetEventSlim ended) : ISecondaryEvents
    {
        public void Promoted(Machine machine, long generation, long nextEntryIndex, ulong releasedSeq,
            IReadOnlyList<MachineOutput> unreleased, DeliveryFilter filter, string reason, double gapMs) => ended.Set();
        public void Ended(string reason) => ended.Set();
    }
}
