using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;

namespace Lockstep.Engine.Running;

/// <summary>How a local run ended.</summary>
public enum RunEnd { Halted, Faulted, Idle, TimeLimit }

/// <summary>
/// Drives one machine on live inputs in this process: runs it in slices, hands it scheduled
/// packets, sleeps while the guest sleeps, and passes every output on. Used by the CLI's
/// run and record commands.
/// </summary>
public sealed class LocalRunner(Machine machine, LiveInputs inputs, Action<MachineOutput> onOutput)
{
    public const ulong SliceInstructions = 1_000_000;

    /// <summary>How long the guest may sleep with nothing due before an idle run counts as over.</summary>
    public static readonly TimeSpan IdleGrace = TimeSpan.FromMilliseconds(200);

    public Action? AfterSlice { get; init; }

    /// <param name="packets">Packets to deliver, in time order.</param>
    /// <param name="stopWhenIdle">End once every packet is delivered and the guest sleeps with no timer due soon.</param>
    /// <param name="timeLimit">End after this much wall-clock time.</param>
    public RunEnd Run(IReadOnlyList<ScheduledPacket> packets, bool stopWhenIdle, TimeSpan? timeLimit = null)
    {
        var clock = Stopwatch.StartNew();
        int nextPacket = 0;
        while (true)
        {
            // Held back while the inputs have no room, so that a local run loses none (they would be dropped).
            while (nextPacket < packets.Count && packets[nextPacket].At <= clock.Elapsed && inputs.HasRoom)
            {
                inputs.Deliver(packets[nextPacket].Peer, packets[nextPacket].Data);
                nextPacket++;
            }
            var reason = machine.Run(SliceInstructions);
            foreach (var output in machine.Outputs) onOutput(output);
            machine.Outputs.Clear();
            AfterSlice?.Invoke();
            if (reason == StopReason.Halted) return RunEnd.Halted;
            if (reason == StopReason.Faulted) return RunEnd.Faulted;
            if (timeLimit is { } limit && clock.Elapsed >= limit) return RunEnd.TimeLimit;
            if (reason != StopReason.Waiting || inputs.HasArrivals) continue;

            var sleep = inputs.UntilTimer(machine);
            if (nextPacket < packets.Count && !inputs.HasRoom)
            {
                // Due but held back, and the guest sleeps without reading its full device queue: idle all the same.
                if (stopWhenIdle && sleep > IdleGrace) return RunEnd.Idle;
                sleep = Min(sleep, TimeSpan.FromMilliseconds(1));
            }
            else if (nextPacket < packets.Count) sleep = Min(sleep, packets[nextPacket].At - clock.Elapsed);
            else if (stopWhenIdle && sleep > IdleGrace) return RunEnd.Idle;
            if (timeLimit is { } cap) sleep = Min(sleep, cap - clock.Elapsed);
            if (sleep > TimeSpan.Zero) Thread.Sleep(sleep);
        }
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
