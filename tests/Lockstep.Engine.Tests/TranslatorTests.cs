using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

/// <summary>
/// Compiled code must be indistinguishable from the interpreter: the same registers, memory,
/// instruction counts, traps and outputs at every point, however the runs are sliced.
/// </summary>
public class TranslatorTests
{
    /// <summary>More entries than the translator waits for, so the loops below do run compiled.</summary>
    private const int HotIterations = 500;

    private static uint[] Registers(Machine machine) => Enumerable.Range(0, 32).Select(r => machine[r]).ToArray();

    private static void AssertSameCore(Machine expected, Machine actual)
    {
        Assert.Equal((expected.Position, expected.Pc), (actual.Position, actual.Pc));
        Assert.Equal(Registers(expected), Registers(actual));
        Assert.Equal((expected.IsHalted, expected.IsWaiting, expected.Fault), (actual.IsHalted, actual.IsWaiting, actual.Fault));
    }

    /// <summary>All of it: RAM and core state, which pages count as dirty for the next delta snapshot, and which hold memory.</summary>
    private static void AssertSameState(Machine expected, Machine actual)
    {
        Assert.Equal(StateHash.Compute(expected), StateHash.Compute(actual));
        Assert.Equal(expected.DirtyPages(), actual.DirtyPages());
        Assert.Equal(expected.TouchedPages(), actual.TouchedPages());
        Assert.Equal(actual.TouchedPages().Count(), actual.TouchedPageCount); // the count the GC is told of
    }

    /// <summary>
    /// Runs a translating and an interpreting machine in the same random slices, comparing them
    /// after every slice (the whole state every few), until they stop for something else than the
    /// budget or an output, or <paramref name="instructions"/> have run. Returns why they stopped last.
    /// </summary>
    private static StopReason RunSideBySide(Machine compiled, Machine interpreted, Random random, ulong instructions, int maxSlice, int hashEvery = 8)
    {
        Assert.True(compiled.UseTranslator);
        interpreted.UseTranslator = false;
        ulong end = compiled.Position + instructions;
        var expected = StopReason.Budget;
        for (int slice = 1; compiled.Position < end; slice++)
        {
            ulong budget = (ulong)random.Next(1, maxSlice + 1);
            expected = interpreted.Run(budget);
            Assert.Equal(expected, compiled.Run(budget));
            AssertSameCore(interpreted, compiled);
            Recorder.AssertSameOutputs(interpreted.Outputs, compiled.Outputs);
            interpreted.Outputs.Clear();
            compiled.Outputs.Clear();
            if (slice % hashEvery == 0) AssertSameState(interpreted, compiled);
            if (slice % 5 == 0)
            {
                // A new dirty-page epoch: the first store into each page after it leaves the inline path.
                interpreted.ClearDirtyPages();
                compiled.ClearDirtyPages();
            }
            if (expected is not (StopReason.Budget or StopReason.Output)) break;
        }
        AssertSameState(interpreted, compiled);
        return expected;
    }

    // ---- Guests ------------------------------------------------------------------------

    /// <summary>Runs until <paramref name="position"/> instructions have run in all (outputs and other stops passed over).</summary>
    private static void RunTo(Machine machine, ulong position)
    {
        while (machine.Position < position && !machine.IsHalted) machine.Run(position - machine.Position);
    }

    /// <summary>
    /// Machines of one image share compiled code (one JIT per region in the process, not per machine): the second
    /// machine compiles nothing itself, and each still runs on its own state, also when their runs interleave.
    /// </summary>
    [Fact]
    public void Machines_running_the_same_code_share_compiled_regions_and_each_runs_on_its_own_state()
    {
        var first = Repo.LoadGuest("bench");
        var second = Repo.LoadGuest("bench");
        var reference = Repo.LoadGuest("bench", translate: false);
        RunTo(first, 300_000);
        Assert.True(first.CompiledRegions > 0);
        // Interleaved: the same compiled methods, bound to two machines at different points of the program.
        for (int i = 1; i <= 20; i++)
        {
            RunTo(second, (ulong)i * 10_000);
            RunTo(first, 300_000 + (ulong)i * 15_000);
        }
        Assert.False(first.IsHalted || second.IsHalted);
        Assert.True(second.CompiledRegions > 0);
        Assert.Equal(second.CompiledRegions, second.SharedRegions); // all compiled for the first one already
        RunTo(reference, second.Position);
        AssertSameCore(reference, second);
        AssertSameState(reference, second);
        RunTo(reference, first.Position);
        AssertSameCore(reference, first);
        AssertSameState(reference, first);
    }

    [Theory]
    [InlineData("hello", 1_000_000, 300)]
    [InlineData("bench", 40_000_000, 2_000_000)]
    public void Guests_run_the_same_compiled_and_interpreted(string guest, int instructions, int maxSlice)
    {
        var compiled = Repo.LoadGuest(guest);
        RunSideBySide(compiled, Repo.LoadGuest(guest, translate: false), new Random(guest.Length), (ulong)instructions, maxSlice, hashEvery: 4);
        Assert.True(compiled.CompiledRegions > 0);
        Assert.True(compiled.CompiledInstructions > 0);
    }

    [Fact]
    public void Kv_serves_the_same_compiled_and_interpreted()
    {
        var compiledInputs = new LiveInputs();
        var interpretedInputs = new LiveInputs();
        var compiled = Repo.LoadGuest("kv", compiledInputs);
        var interpreted = Repo.LoadGuest("kv", interpretedInputs, translate: false);
        var random = new Random(3);
        for (int i = 0; i < 40; i++)
        {
            // Both machines see each packet at the same boundary, so they must do the same with it.
            string request = $"{i} {(i % 3 == 0 ? "PUT" : i % 3 == 1 ? "INCR" : "GET")} k{i % 5} {i}";
            compiledInputs.Deliver(1, Encoding.ASCII.GetBytes(request));
            interpretedInputs.Deliver(1, Encoding.ASCII.GetBytes(request));
            Assert.Equal(StopReason.Waiting, RunSideBySide(compiled, interpreted, random, 10_000_000, 5_000));
        }
        Assert.True(compiled.CompiledInstructions > 0);
    }

    /// <summary>Replays one recording on two machines at once, in the same slices, and compares them all along.</summary>
    [Theory]
    [InlineData("clockrng", 71)]
    [InlineData("ticker", 72)]
    [InlineData("kv", 73)]
    public void Replays_run_the_same_compiled_and_interpreted(string guest, int seed)
    {
        (uint, string)[] traffic = guest == "kv" ? [(1, "1 PUT a 5"), (2, "2 INCR a"), (1, "3 GET a"), (3, "junk")] : [];
        var recording = Recorder.Record(guest, new Random(seed), traffic);
        var compiledInputs = new ReplayInputs();
        var interpretedInputs = new ReplayInputs();
        compiledInputs.Append(recording.AsOneSegment());
        interpretedInputs.Append(recording.AsOneSegment());
        var compiled = Repo.LoadGuest(guest, compiledInputs);
        RunSideBySide(compiled, Repo.LoadGuest(guest, interpretedInputs, translate: false), new Random(seed), ulong.MaxValue / 2, 20_000, hashEvery: 64);
        Assert.Equal(recording.FinalPosition, compiled.Position);
        Assert.Equal(recording.FinalHash, StateHash.Compute(compiled));
    }

    [Theory]
    [InlineData("clockrng", false, 81)]
    [InlineData("clockrng", true, 82)]
    [InlineData("ticker", false, 83)]
    [InlineData("ticker", true, 84)]
    [InlineData("kv", false, 85)]
    [InlineData("kv", true, 86)]
    public void A_recording_replays_identically_in_the_other_mode(string guest, bool recordCompiled, int seed)
    {
        (uint, string)[] traffic = guest == "kv" ? [(1, "1 PUT a 5"), (2, "2 INCR a"), (1, "3 GET a"), (2, "4 DEL a")] : [];
        var recording = Recorder.Record(guest, new Random(seed), traffic, translate: recordCompiled);
        var replay = Recorder.Replay(guest, recording.Segments, new Random(seed + 1), translate: !recordCompiled);
        Recorder.AssertSameOutputs(recording.Outputs, replay.Outputs);
        Assert.Equal((recording.FinalPosition, recording.FinalHash), (replay.Position, replay.Hash));
        Assert.Equal(replay.EntriesReceived, replay.EntriesUsed);
    }

    // ---- Random programs ------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Random_programs_run_the_same_compiled_and_interpreted(int seed)
    {
        ulong total = 0, compiledInstructions = 0;
        for (int i = 0; i < 10; i++)
        {
            var random = new Random(seed * 1000 + i);
            var program = RandomProgram.Generate(random);
            var compiled = program.Load(new LiveInputs());
            RunSideBySide(compiled, program.Load(new LiveInputs()), random, 200_000, random.Next(2) == 0 ? 50 : 5_000, hashEvery: 16);
            total += compiled.Position;
            compiledInstructions += compiled.CompiledInstructions;
        }
        Assert.True(compiledInstructions > total / 4, $"only {compiledInstructions} of {total} instructions ran compiled");
    }

    [Fact]
    public void Switching_the_translator_on_and_off_between_runs_changes_nothing()
    {
        var random = new Random(17);
        for (int i = 0; i < 6; i++)
        {
            var program = RandomProgram.Generate(random);
            var switching = program.Load(new LiveInputs());
            var interpreted = program.Load(new LiveInputs());
            interpreted.UseTranslator = false;
            for (int slice = 0; slice < 100; slice++)
            {
                switching.UseTranslator = random.Next(2) == 0;
                ulong budget = (ulong)random.Next(1, 4_000);
                Assert.Equal(interpreted.Run(budget), switching.Run(budget));
                AssertSameCore(interpreted, switching);
                Recorder.AssertSameOutputs(interpreted.Outputs, switching.Outputs);
                interpreted.Outputs.Clear();
                switching.Outputs.Clear();
            }
            Assert.Equal(StateHash.Compute(interpreted), StateHash.Compute(switching));
        }
    }

    // ---- Memory on demand --------------------------------------------------------------------

    /// <summary>
    /// A hot loop walks a pointer over pages never written, storing zeroes (words, halfwords across
    /// page ends, bytes) and once in 128 iterations a one: only the pages that got the one may count
    /// as touched or dirty, compiled as interpreted, across dirty-page epochs.
    /// </summary>
    [Fact]
    public void Zero_stores_into_untouched_pages_run_the_same_compiled_and_interpreted()
    {
        const int iterations = 600, stride = 62, s0 = 8, s1 = 9;
        const uint start = Prog.Base + 0x4000;
        var program = new Prog
        {
            Li(s0, start), Li(s1, iterations),
            Andi(T1, s1, 127),     // loop: t1 = 1 once in 128 iterations, else 0
            Sltiu(T1, T1, 1),
            Sw(Zero, s0, 0),
            Sh(Zero, s0, -1),
            Sb(T1, s0, 5),
            Sw(Zero, s0, 8),
            Addi(s0, s0, stride),
            Addi(s1, s1, -1),
            Bne(s1, Zero, -4 * 8),
            Wfi(),
        };
        var compiled = program.Load();
        Assert.Equal(StopReason.Waiting, RunSideBySide(compiled, program.Load(), new Random(11), 100_000, 700));
        Assert.True(compiled.CompiledInstructions > iterations * 4);
        var expected = new SortedSet<int> { 0 };
        for (int counter = iterations; counter > 0; counter--)
            if (counter % 128 == 0) expected.Add((int)((start + stride * (uint)(iterations - counter) + 5 - Prog.Base) >> MemoryMap.PageShift));
        Assert.Equal(expected, compiled.TouchedPages());
    }

    // ---- Self-modifying code ----------------------------------------------------------------

    [Fact]
    public void A_hot_loop_that_rewrites_its_own_body_runs_the_new_instruction()
    {
        // The loop counts a0 up by 1; halfway it overwrites that addi with one adding 100.
        var program = new Prog
        {
            Li(A1, Addi(A0, A0, 100)),               // 0, 1
            Li(T0, 2 * HotIterations),               // 2, 3
            Li(T1, HotIterations),                   // 4, 5
            Auipc(A2, 0),                            // 6: a2 = address of instruction 6
            Addi(A0, A0, 1),                         // 7: the loop; rewritten
            Addi(T0, T0, -1),                        // 8
            Bne(T0, T1, 8),                          // 9
            Sw(A1, A2, 4),                           // 10: rewrites instruction 7
            Bne(T0, Zero, -16),                      // 11
            Prog.Pass(),
        };
        var compiled = program.Load();
        RunSideBySide(compiled, program.Load(), new Random(1), 1_000_000, 700);
        Assert.True(compiled.IsHalted);
        Assert.Equal(HotIterations + 100u * HotIterations, compiled[A0]);
        Assert.True(compiled.CompiledInstructions > 0);
    }

    [Fact]
    public void A_store_that_rewrites_the_next_instruction_takes_effect_at_once()
    {
        // Every iteration flips the instruction right after the store between "add 1" and "add 100".
        uint addOne = Addi(A0, A0, 1), addHundred = Addi(A0, A0, 100);
        var program = new Prog
        {
            Li(A1, addHundred),                      // 0, 1
            Li(A3, addOne ^ addHundred),             // 2, 3
            Li(T0, HotIterations),                   // 4, 5
            Auipc(A2, 0),                            // 6
            Sw(A1, A2, 8),                           // 7: the loop; rewrites instruction 8
            addOne,                                  // 8
            Xor(A1, A1, A3),                         // 9
            Addi(T0, T0, -1),                        // 10
            Bne(T0, Zero, -16),                      // 11
            Prog.Pass(),
        };
        var compiled = program.Load();
        RunSideBySide(compiled, program.Load(), new Random(2), 1_000_000, 900);
        Assert.True(compiled.IsHalted);
        Assert.Equal(HotIterations / 2 * 101u, compiled[A0]);
    }

    /// <summary>a0 counts iterations of a loop of t0 (a0 += a1 each time); instruction 4 is the add.</summary>
    private static Prog CountingLoop(uint step) => new()
    {
        Li(T0, 100 * HotIterations),                 // 0, 1
        Addi(A1, Zero, (int)step),                   // 2
        Addi(A0, Zero, 0),                           // 3
        Add(A0, A0, A1),                             // 4: the loop
        Addi(T0, T0, -1),                            // 5
        Bne(T0, Zero, -8),                           // 6
        Prog.Pass(),
    };

    [Fact]
    public void Code_the_host_overwrites_between_runs_is_compiled_again()
    {
        var compiled = CountingLoop(1).Load();
        var interpreted = CountingLoop(1).Load();
        RunSideBySide(compiled, interpreted, new Random(3), 20_000, 1_000);
        Assert.True(compiled.CompiledInstructions > 0);
        byte[] sub = BitConverter.GetBytes(Sub(A0, A0, A1));
        Assert.True(compiled.TryWriteRam(Prog.At(4), sub));
        Assert.True(interpreted.TryWriteRam(Prog.At(4), sub));
        uint before = compiled[A0];
        RunSideBySide(compiled, interpreted, new Random(4), 10_000, 1_000);
        Assert.True(compiled[A0] < before, "the loop now subtracts");
    }

    [Fact]
    public void Restoring_a_snapshot_drops_code_compiled_before_it()
    {
        // Same addresses, different code: after the restore, the machine must run the snapshot's loop.
        var adding = CountingLoop(1).Load();
        Assert.Equal(StopReason.Budget, adding.Run(30_000));
        Assert.True(adding.CompiledInstructions > 0);
        var other = new Prog { Li(T0, 100 * HotIterations), Addi(A1, Zero, 7), Addi(A0, Zero, 0), Xor(A0, A0, A1), Addi(T0, T0, -1), Bne(T0, Zero, -8), Prog.Pass() }.Load();
        Assert.Equal(StopReason.Budget, other.Run(10_001));
        MachineSnapshot.Restore(adding, MachineSnapshot.CaptureFull(other));
        RunSideBySide(adding, other, new Random(5), 200_000, 3_000);
        Assert.True(adding.IsHalted);
        Assert.Equal(0u, adding[A0]); // an even number of xors with 7
    }

    // ---- Exact positions ---------------------------------------------------------------------

    /// <summary>
    /// Counts in a hot loop with the timer interrupt enabled; the handler records minstret, mepc and
    /// the count (a1, a2, a3) and passes.
    /// </summary>
    private static Prog InterruptedLoop()
    {
        const int handler = 24;
        var program = new Prog
        {
            Li(T0, Prog.At(handler)), Csrw(Mtvec, T0),      // 0..2
            Addi(T1, Zero, 0x80), Csrw(Mie, T1),            // 3, 4
            Csrrsi(Zero, Mstatus, 8),                       // 5
            Addi(A0, A0, 1),                                // 6: the loop
            Xori(A4, A0, 0x55),                             // 7
            Add(A5, A5, A4),                                // 8
            Jal(Zero, -12),                                 // 9
        };
        while (program.Count < handler) program.Add(Nop());
        program.Add(Csrr(A1, Minstret));
        program.Add(Csrr(A2, Mepc));
        program.Add(Addi(A3, A0, 0));
        program.Add(Prog.Pass());
        return program;
    }

    [Theory]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(5_000)]
    [InlineData(5_001)]
    [InlineData(5_002)]
    [InlineData(5_003)]
    [InlineData(123_457)]
    public void A_timer_interrupt_logged_inside_a_hot_loop_is_taken_at_exactly_its_position(int at)
    {
        var log = new LogSegment(0, (ulong)at + 1_000, [new LogEntry(EntryKind.TimerOn, (ulong)at)]);
        var compiledInputs = new ReplayInputs();
        var interpretedInputs = new ReplayInputs();
        compiledInputs.Append(log);
        interpretedInputs.Append(log);
        var compiled = InterruptedLoop().Load(compiledInputs);
        RunSideBySide(compiled, InterruptedLoop().Load(interpretedInputs), new Random(at), 1_000_000, 100_000);
        Assert.True(compiled.IsHalted);
        Assert.Equal((uint)at, compiled[A1]); // the handler's first instruction is instruction number `at`
        int inLoop = at - 6;
        Assert.Equal(Prog.At(6 + inLoop % 4), compiled[A2]);
        Assert.Equal((uint)((inLoop + 3) / 4), compiled[A3]);
        if (at > 1_000) Assert.True(compiled.CompiledInstructions > 0);
    }

    /// <summary>
    /// A hot loop reading the RNG and the CLINT's mtime, with an inner loop between the reads: in
    /// replay every read ends a run, and compiled code only gets to run where reads are apart.
    /// </summary>
    private static Prog DeviceReadingLoop() => new()
    {
        Li(T0, MemoryMap.Rng),                      // 0, 1
        Li(T1, MemoryMap.Clint + 0xBFF8),           // 2, 3
        Li(T2, HotIterations),                      // 4, 5
        Lw(A1, T0, 0),                              // 6: the loop
        Add(A0, A0, A1),                            // 7
        Addi(A5, Zero, 40),                         // 8
        Addi(A5, A5, -1),                           // 9: the inner loop
        Xor(A3, A3, A0),                            // 10
        Bne(A5, Zero, -8),                          // 11
        Lw(A2, T1, 0),                              // 12
        Xor(A3, A3, A2),                            // 13
        Lbu(A4, T0, 0),                             // 14
        Add(A0, A0, A4),                            // 15
        Addi(T2, T2, -1),                           // 16
        Bne(T2, Zero, -44),                         // 17
        Prog.Pass(),
    };

    [Theory]
    [InlineData(true, 91)]
    [InlineData(false, 92)]
    public void Device_reads_in_a_hot_loop_record_in_one_mode_and_replay_in_the_other(bool recordCompiled, int seed)
    {
        var random = new Random(seed);
        var recorder = new EventRecorder();
        var recording = DeviceReadingLoop().Load(new LiveInputs(recorder));
        recording.UseTranslator = recordCompiled;
        var segments = new List<LogSegment>();
        StopReason reason;
        do
        {
            reason = recording.Run((ulong)random.Next(1, 3_000));
            if (random.Next(4) == 0) segments.Add(recorder.Cut(recording.Position));
        }
        while (reason == StopReason.Budget);
        Assert.Equal(StopReason.Halted, reason);
        segments.Add(recorder.Cut(recording.Position, final: true));
        Assert.Equal(HotIterations * 3, segments.Sum(s => s.Entries.Length));

        var inputs = new ReplayInputs();
        var replaying = DeviceReadingLoop().Load(inputs);
        replaying.UseTranslator = !recordCompiled;
        foreach (var segment in segments)
        {
            inputs.Append(segment);
            do reason = replaying.Run((ulong)random.Next(1, 3_000));
            while (reason == StopReason.Budget);
        }
        Assert.Equal(StopReason.Halted, reason);
        Assert.Equal(inputs.ReceivedEntryIndex, inputs.NextEntryIndex);
        AssertSameCore(recording, replaying);
        Assert.Equal(StateHash.Compute(recording), StateHash.Compute(replaying));
        Assert.True((recordCompiled ? recording : replaying).CompiledInstructions > 0);
    }

    [Fact]
    public void Loads_and_stores_at_the_edges_of_ram_trap_at_the_same_instruction()
    {
        // A hot loop walking a pointer up to the end of RAM and past it: word accesses straddle the end, then fault.
        const int handler = 20;
        var program = new Prog
        {
            Li(T0, Prog.At(handler)), Csrw(Mtvec, T0),      // 0..2
            Li(A0, Prog.Base + Prog.SmallRam - 4 * HotIterations), // 3, 4
            Lw(A1, A0, 0),                                  // 5: the loop
            Sw(A1, A0, 1),                                  // 6
            Add(A2, A2, A1),                                // 7
            Addi(A0, A0, 1),                                // 8
            Jal(Zero, -16),                                 // 9
        };
        while (program.Count < handler) program.Add(Nop());
        program.Add(Csrr(A3, Mcause));
        program.Add(Csrr(A4, Mtval));
        program.Add(Csrr(A5, Mepc));
        program.Add(Prog.Pass());
        var compiled = program.Load();
        RunSideBySide(compiled, program.Load(), new Random(6), 1_000_000, 997);
        Assert.True(compiled.IsHalted);
        Assert.Equal(TrapCause.StoreAccessFault, compiled[A3]);
        Assert.Equal(Prog.Base + Prog.SmallRam - 3, compiled[A4]);
        Assert.Equal(Prog.At(6), compiled[A5]);
        Assert.True(compiled.CompiledInstructions > 0);
    }
}
