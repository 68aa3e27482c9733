using System.Text;
using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Tests;

/// <summary>Drives machines in tests: runs through output stops and budgets until something else happens.</summary>
public static class Run
{
    /// <summary>
    /// Runs until the machine halts, faults, sleeps or needs log (or <paramref name="limit"/>
    /// instructions have gone by: then Budget), moving every output into <paramref name="sink"/>.
    /// </summary>
    public static StopReason UntilStopped(Machine machine, List<MachineOutput>? sink = null, ulong limit = 50_000_000, ulong slice = 5_000_000)
    {
        ulong end = machine.Position + limit;
        while (true)
        {
            ulong left = end - machine.Position;
            var reason = machine.Run(Math.Min(slice, left));
            sink?.AddRange(machine.Outputs);
            machine.Outputs.Clear();
            if (reason == StopReason.Output) continue;
            if (reason == StopReason.Budget && machine.Position < end) continue;
            return reason;
        }
    }

    public static string Console(IEnumerable<MachineOutput> outputs) =>
        Encoding.ASCII.GetString(outputs.Where(o => o.Kind == OutputKind.Console).SelectMany(o => o.Data).ToArray());

    public static List<(uint Peer, string Text)> Packets(IEnumerable<MachineOutput> outputs) =>
        outputs.Where(o => o.Kind == OutputKind.Packet).Select(o => (o.Peer, Encoding.ASCII.GetString(o.Data))).ToList();
}
