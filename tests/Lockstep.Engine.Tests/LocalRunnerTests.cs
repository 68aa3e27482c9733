using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Running;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

public class LocalRunnerTests
{
    [Fact]
    public void Runs_a_guest_to_its_halt_passing_every_output_on()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("hello", inputs);
        var outputs = new List<MachineOutput>();
        int slices = 0;
        var runner = new LocalRunner(machine, inputs, outputs.Add) { AfterSlice = () => slices++ };
        Assert.Equal(RunEnd.Halted, runner.Run([], stopWhenIdle: false));
        Assert.Equal("Hello from Lockstep!\nRV32IM guest, machine mode, exiting with status 0.\n", Run.Console(outputs));
        Assert.Empty(machine.Outputs); // handed on, not left behind
        Assert.True(slices >= outputs.Count);
    }

    [Fact]
    public void Reports_a_guest_fault()
    {
        var inputs = new LiveInputs();
        var machine = new Prog { Nop(), Ebreak() }.Load(inputs);
        var runner = new LocalRunner(machine, inputs, _ => { });
        Assert.Equal(RunEnd.Faulted, runner.Run([], stopWhenIdle: false));
        Assert.Equal(TrapCause.Breakpoint, machine.Fault!.Cause);
    }

    [Fact]
    public void Delivers_scheduled_packets_and_stops_when_the_guest_is_idle()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("kv", inputs);
        var outputs = new List<MachineOutput>();
        var packets = new List<ScheduledPacket>
        {
            new(TimeSpan.Zero, 4, Encoding.ASCII.GetBytes("1 PUT a 1")),
            new(TimeSpan.Zero, 4, Encoding.ASCII.GetBytes("2 INCR a")),
            new(TimeSpan.FromMilliseconds(1), 5, Encoding.ASCII.GetBytes("1 GET a")),
        };
        Assert.Equal(RunEnd.Idle, new LocalRunner(machine, inputs, outputs.Add).Run(packets, stopWhenIdle: true));
        Assert.Equal("kv: ready\n", Run.Console(outputs));
        Assert.Equal([(4u, "1 OK"), (4u, "2 2"), (5u, "1 VALUE 2")], Run.Packets(outputs));
        Assert.True(machine.IsWaiting);
    }

    [Fact]
    public void Ends_a_guest_that_never_stops_at_the_time_limit()
    {
        var inputs = new LiveInputs();
        var machine = new Prog { Addi(A0, A0, 1), Jal(Zero, -4) }.Load(inputs);
        var end = new LocalRunner(machine, inputs, _ => { }).Run([], stopWhenIdle: true, timeLimit: TimeSpan.FromMilliseconds(50));
        Assert.Equal(RunEnd.TimeLimit, end);
        Assert.False(machine.IsHalted);
        Assert.True(machine.Position >= LocalRunner.SliceInstructions);
    }

    [Fact]
    public void Waits_for_the_timer_of_a_sleeping_guest()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("ticker", inputs);
        var outputs = new List<MachineOutput>();
        Assert.Equal(RunEnd.Halted, new LocalRunner(machine, inputs, outputs.Add).Run([], stopWhenIdle: true));
        Assert.Equal(0, machine.ExitCode);
        Assert.Contains("tick 20 mtime=", Run.Console(outputs));
    }
}
