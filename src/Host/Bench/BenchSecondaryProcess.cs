using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Secondary;

namespace Lockstep.Host.Bench;

/// <summary>
/// A secondary in a process of its own, started under `taskset` on another core, so that a benchmark
/// on one machine can keep the secondary's replay off the primary's CPU, as a second host would.
/// </summary>
public static class BenchSecondaryProcess
{
    /// <summary>The child's side (`lockstep bench secondary`): prints its port and attach token, replays until the primary says goodbye.</summary>
    public static int Run(string name)
    {
        var ended = new ManualResetEventSlim(false);
        var token = AttachToken.New();
        using var engine = new ReplicationEngine("127.0.0.1", 0, LockstepSettings.Default);
        var secondary = new ReplayLoop(name, MemoryMap.DefaultRamSize, engine, token, LockstepSettings.Default, new EndSignal(ended));
        Console.WriteLine($"{secondary.Start()} {Convert.ToHexString(token.Bytes)}");
        Console.Out.Flush();
        ended.Wait();
        return 0;
    }

    /// <summary>The parent's side: starts the child pinned to <paramref name="cpu"/>; returns it with the port it listens on and its token.</summary>
    public static (Process Child, int Port, AttachToken Token) Start(string name, int cpu)
    {
        var (child, line) = PinnedChild.Start(cpu, "secondary", "--name", name);
        var parts = line.Split(' ');
        return (child, int.Parse(parts[0]), AttachToken.Of(Convert.FromHexString(parts[1])));
    }

    private sealed class EndSignal(ManualResetEventSlim ended) : ISecondaryFacts
    {
        public void InSync() { }
        public void PrimaryLost(CloseReason reason, string detail, Takeover takeover) => ended.Set();
        public void HandedOver(Takeover takeover) => ended.Set();
        public void Ended(CloseReason? reason, string detail) => ended.Set();
        public void Refused(CloseReason reason, string detail) { }
    }
}
