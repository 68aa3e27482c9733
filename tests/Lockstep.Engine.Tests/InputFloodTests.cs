using System.Text;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Running;

namespace Lockstep.Engine.Tests;

/// <summary>The bound on packets waiting for a guest: beyond it a live delivery is refused and counted; a local run holds them back instead.</summary>
public sealed class InputFloodTests
{
    [Fact]
    public void Packets_beyond_the_waiting_bound_are_refused_and_counted_and_the_guest_still_gets_every_one_it_was_given()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("kv", inputs);
        Assert.Equal(Lockstep.Engine.Cpu.StopReason.Waiting, Run.UntilStopped(machine));
        int taken = 0;
        for (int i = 0; i < LiveInputs.MaxArrivals + 500; i++)
            if (inputs.Deliver(1, Encoding.ASCII.GetBytes($"{i} INCR n"))) taken++;
        Assert.Equal(LiveInputs.MaxArrivals, taken);
        Assert.Equal(500, inputs.DroppedPackets);
        Assert.False(inputs.HasRoom);
        var outputs = new List<Lockstep.Engine.Cpu.MachineOutput>();
        Assert.Equal(Lockstep.Engine.Cpu.StopReason.Waiting, Run.UntilStopped(machine, outputs));
        Assert.Equal(taken, Run.Packets(outputs).Count);
        Assert.True(inputs.HasRoom);
    }

    [Fact]
    public void A_local_run_holds_back_what_would_not_fit_and_loses_none_of_its_packets()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("kv", inputs);
        const int count = 3 * LiveInputs.MaxArrivals;
        var packets = Enumerable.Range(1, count).Select(i => new ScheduledPacket(TimeSpan.Zero, 1, Encoding.ASCII.GetBytes($"{i} INCR n"))).ToList();
        var outputs = new List<Lockstep.Engine.Cpu.MachineOutput>();
        Assert.Equal(RunEnd.Idle, new LocalRunner(machine, inputs, outputs.Add).Run(packets, stopWhenIdle: true, TimeSpan.FromMinutes(1)));
        Assert.Equal(0, inputs.DroppedPackets);
        var answers = Run.Packets(outputs);
        Assert.Equal(count, answers.Count);
        Assert.Equal($"{count} {count}", answers[^1].Item2);
    }
}
