using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

/// <summary>
/// Writes to the counters behave as in the privileged spec's reference models (Spike, Sail): the
/// write sets what the next instruction reads, the writing instruction's own increment is
/// suppressed, and a write to one half keeps the other half as the writing instruction found it.
/// Each case runs in a loop hot enough for the translator, under the translator and under the
/// interpreter alone: the two must read the same, and the machine's Position must not move.
/// </summary>
public class CounterWriteTests
{
    private const int S1 = 9, S2 = 18;
    private const int Iterations = 100; // more than the translator's threshold

    public static TheoryData<uint, uint> Counters => new() { { Minstret, Minstreth }, { Mcycle, Mcycleh } };

    [Theory]
    [MemberData(nameof(Counters))]
    public void All_ones_in_both_halves_then_one_instruction_wraps_to_zero(uint low, uint high)
    {
        // li t0,-1; csrw low,t0; csrw high,t0; nop; csrr a0,low (and csrr a1,high: 0, not 0xffffffff)
        uint[] body = [.. Li(T0, 0xFFFF_FFFF), Csrw(low, T0), Csrw(high, T0), Nop(), Csrr(A0, low), Csrr(A1, high)];
        AssertReads(body, expectedA0: 0, expectedA1: 0);
    }

    [Theory]
    [MemberData(nameof(Counters))]
    public void Writing_the_high_half_does_not_count_the_writing_instruction(uint low, uint high)
    {
        // csrwi low,7; csrw high,zero; csrr a0,low: 7 (8 would count the csrw of the high half)
        uint[] body = [Csrrwi(Zero, low, 7), Csrw(high, Zero), Csrr(A0, low), Csrr(A1, high)];
        AssertReads(body, expectedA0: 7, expectedA1: 0);
    }

    [Theory]
    [MemberData(nameof(Counters))]
    public void Writing_the_low_half_at_its_limit_leaves_the_high_half(uint low, uint high)
    {
        // The counter at 0x0_ffffffff, then csrw low,zero: the high half stays 0 (no carry from the suppressed increment).
        uint[] body = [.. Li(T0, 0xFFFF_FFFF), Csrw(high, Zero), Csrw(low, T0), Csrw(low, Zero), Csrr(A1, high), Csrr(A0, low)];
        AssertReads(body, expectedA0: 1, expectedA1: 0);
    }

    [Fact]
    public void A_restored_snapshot_reads_the_written_counter()
    {
        var machine = new Prog { Csrrwi(Zero, Minstret, 7), Nop(), Nop(), Csrr(A0, Minstret), Csrr(A1, Mcycle) }.Load();
        Assert.Equal(StopReason.Budget, machine.Run(2));
        byte[] snapshot = MachineSnapshot.CaptureFull(machine);
        var copy = new Machine(Prog.SmallRam);
        MachineSnapshot.Restore(copy, snapshot);
        Assert.Equal(StateHash.Compute(machine), StateHash.Compute(copy));
        Assert.Equal(StopReason.Budget, copy.Run(3));
        Assert.Equal(9u, copy[A0]);  // 7, then the nops
        Assert.Equal(4u, copy[A1]);  // mcycle was not written: the instructions before the read
        Assert.Equal(5UL, copy.Position);
    }

    [Fact]
    public void Counter_offsets_are_part_of_the_state_hash()
    {
        var written = new Prog { Csrrwi(Zero, Minstret, 7) }.Load();
        var other = new Prog { Csrrwi(Zero, Minstret, 8) }.Load();
        written.Run(1);
        other.Run(1);
        Assert.Equal(written.Position, other.Position);
        Assert.NotEqual(StateHash.Compute(written), StateHash.Compute(other));
    }

    /// <summary>
    /// Runs <paramref name="body"/> <see cref="Iterations"/> times in a loop that ORs every wrong
    /// read into s1, under the translator and under the interpreter alone.
    /// </summary>
    private static void AssertReads(uint[] body, uint expectedA0, uint expectedA1)
    {
        // The loop starts with the count so that compiled code has something to run at the jump target.
        var program = new Prog { Li(S2, Iterations), Addi(S2, S2, -1) };
        program.Add(body);
        program.Add([
            Xori(T1, A0, (int)expectedA0), Or(S1, S1, T1),
            Xori(T1, A1, (int)expectedA1), Or(S1, S1, T1),
            Bne(S2, Zero, -4 * (body.Length + 5)),
        ]);
        program.Add(Prog.Pass());
        var compiled = program.Load();
        var interpreted = program.Load();
        interpreted.UseTranslator = false;
        foreach (var machine in new[] { compiled, interpreted })
        {
            Assert.Equal(StopReason.Halted, Run.UntilStopped(machine, limit: 100_000));
            Assert.Null(machine.Fault);
            Assert.Equal(0u, machine[S1]);
            Assert.Equal((expectedA0, expectedA1), (machine[A0], machine[A1]));
            // Position counts every instruction once, whatever the counters were set to.
            Assert.Equal((ulong)(2 + Iterations * (body.Length + 6) + Prog.Pass().Length), machine.Position);
        }
        Assert.True(compiled.CompiledInstructions > 0);
        Assert.Equal(0UL, interpreted.CompiledInstructions);
        Assert.Equal(StateHash.Compute(interpreted), StateHash.Compute(compiled));
    }
}
