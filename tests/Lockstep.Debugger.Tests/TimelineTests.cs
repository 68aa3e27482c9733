using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;
using Lockstep.Host.Debugging;

namespace Lockstep.Debugger.Tests;

/// <summary>
/// The timeline against the reference replay: every stop (breakpoints, watches, steps, both
/// directions) lands on the state a one-instruction-at-a-time replay from the start shows there.
/// A small checkpoint interval makes the searches cross many checkpoints.
/// </summary>
public sealed class TimelineTests(KvRecording kv) : IClassFixture<KvRecording>
{
    private const ulong SmallInterval = 100_000;
    private static readonly Func<bool> NeverInterrupted = () => false;

    private uint Symbol(string name) => kv.Symbols[name];

    [Fact]
    public void Seeking_anywhere_gives_the_state_a_straight_replay_has_there()
    {
        var timeline = kv.NewTimeline(SmallInterval);
        var random = new Random(16);
        ulong end = ForwardReplay.Of(kv, []).End;
        var targets = Enumerable.Range(0, 12).Select(_ => (ulong)random.NextInt64(0, (long)end)).Append(end).Append(0ul).ToList();
        foreach (ulong target in targets)
        {
            Assert.Equal(StopKind.Arrived, timeline.SeekTo(target).Kind);
            var reference = kv.NewReplay(out _, translate: false);
            while (reference.Position < target) { reference.Run(target - reference.Position); reference.Outputs.Clear(); }
            Assert.Equal(target, timeline.Position);
            Assert.Equal(reference.Pc, timeline.Machine.Pc);
            Assert.Equal(StateHash.Compute(reference), StateHash.Compute(timeline.Machine));
        }
        Assert.True(timeline.CheckpointCount > 10, $"only {timeline.CheckpointCount} checkpoints");
    }

    [Fact]
    public void Past_the_memory_budget_checkpoints_thin_out_and_seeks_stay_exact()
    {
        var machine = kv.NewReplay(out var inputs);
        long oneCheckpoint = Lockstep.Engine.Snapshots.MachineSnapshot.CaptureFull(machine).Length;
        var timeline = new Timeline(machine, inputs, _ => { }, SmallInterval, checkpointBudget: 8 * oneCheckpoint);
        ulong end = ForwardReplay.Of(kv, []).End;
        timeline.SeekTo(end);
        Assert.True(timeline.CheckpointInterval > SmallInterval, $"interval still {timeline.CheckpointInterval}");
        Assert.True(timeline.CheckpointBytes <= 16 * oneCheckpoint, $"{timeline.CheckpointBytes} bytes of checkpoints");
        foreach (ulong target in new[] { end / 2 + 12_345, end / 7, end - 1 })
        {
            timeline.SeekTo(target);
            var reference = kv.NewReplay(out _, translate: false);
            while (reference.Position < target) { reference.Run(target - reference.Position); reference.Outputs.Clear(); }
            Assert.Equal(StateHash.Compute(reference), StateHash.Compute(timeline.Machine));
        }
    }

    [Fact]
    public void Continue_stops_at_every_breakpoint_visit_in_order_and_reverse_continue_walks_them_back()
    {
        uint[] breakpoints = [Symbol("store_upsert"), Symbol("store_upsert") + 0x30, Symbol("on_trap")];
        var reference = ForwardReplay.Of(kv, breakpoints);
        Assert.True(reference.Visits.Count > 30, $"only {reference.Visits.Count} visits");
        var timeline = kv.NewTimeline(SmallInterval);
        var conditions = new StopConditions();
        conditions.Breakpoints.UnionWith(breakpoints);

        foreach (var visit in reference.Visits)
        {
            Assert.Equal(StopKind.Breakpoint, timeline.Continue(conditions, NeverInterrupted).Kind);
            Assert.Equal(visit, new Visit(timeline.Position, timeline.Machine.Pc));
        }
        Assert.Equal(StopKind.HistoryEnd, timeline.Continue(conditions, NeverInterrupted).Kind);
        Assert.Equal(reference.End, timeline.Position);

        foreach (var visit in Enumerable.Reverse(reference.Visits))
        {
            Assert.Equal(StopKind.Breakpoint, timeline.ReverseContinue(conditions, NeverInterrupted).Kind);
            Assert.Equal(visit, new Visit(timeline.Position, timeline.Machine.Pc));
        }
        Assert.Equal(StopKind.HistoryBegin, timeline.ReverseContinue(conditions, NeverInterrupted).Kind);
        Assert.Equal(0ul, timeline.Position);
    }

    [Fact]
    public void A_breakpoint_on_every_instruction_of_a_function_stops_where_single_steps_do()
    {
        // Every word of store_upsert and the function after it: stretches must end before each one.
        uint start = Symbol("store_upsert");
        var breakpoints = Enumerable.Range(0, 80).Select(i => start + 4 * (uint)i).ToHashSet();
        var reference = ForwardReplay.Of(kv, breakpoints);
        var timeline = kv.NewTimeline(SmallInterval);
        var conditions = new StopConditions();
        conditions.Breakpoints.UnionWith(breakpoints);
        foreach (var visit in reference.Visits.Take(400))
        {
            timeline.Continue(conditions, NeverInterrupted);
            Assert.Equal(visit, new Visit(timeline.Position, timeline.Machine.Pc));
        }
    }

    [Fact]
    public void Write_watch_stops_before_the_writer_going_forwards_and_after_it_going_back()
    {
        uint address = Symbol("free_count");
        var reference = ForwardReplay.Of(kv, [], address);
        Assert.True(reference.Changes.Count > 5, $"only {reference.Changes.Count} changes");
        var timeline = kv.NewTimeline(SmallInterval);
        var conditions = new StopConditions();
        conditions.Watches.Add(new Watch(address, 4, WatchKind.Write));

        // Every store to the word stops (crt0 clearing it too); like gdb, keep those that changed it.
        var changed = new List<WordChange>();
        while (true)
        {
            var stop = timeline.Continue(conditions, NeverInterrupted);
            if (stop.Kind == StopKind.HistoryEnd) break;
            Assert.Equal(StopKind.Watchpoint, stop.Kind);
            Assert.Equal(address, stop.AccessAddress);
            Assert.Equal(0x23u, Instruction(timeline, timeline.Machine.Pc) & 0x7F); // a store
            uint pc = timeline.Machine.Pc, before = Word(timeline, address);
            Assert.Equal(StopKind.Arrived, timeline.Step(new StopConditions()).Kind); // gdb steps over it with the watch removed
            if (Word(timeline, address) != before) changed.Add(new WordChange(timeline.Position, pc, before, Word(timeline, address)));
        }
        Assert.Equal(reference.Changes, changed);

        foreach (var change in Enumerable.Reverse(reference.Changes))
        {
            do Assert.Equal(StopKind.Watchpoint, timeline.ReverseContinue(conditions, NeverInterrupted).Kind);
            while (timeline.Position > change.Position);
            Assert.Equal(change.Position, timeline.Position);
            Assert.Equal(StopKind.Arrived, timeline.ReverseStep().Kind);
            Assert.Equal(change.Pc, timeline.Machine.Pc);
        }
    }

    [Fact]
    public void Read_watch_stops_at_loads_of_the_word_and_not_at_stores()
    {
        uint address = Symbol("free_count");
        var timeline = kv.NewTimeline(SmallInterval);
        var conditions = new StopConditions();
        conditions.Watches.Add(new Watch(address, 4, WatchKind.Read));
        int loads = 0;
        while (timeline.Continue(conditions, NeverInterrupted).Kind == StopKind.Watchpoint)
        {
            uint bits = Instruction(timeline, timeline.Machine.Pc);
            Assert.Equal(0x2003u, bits & 0x707F); // lw
            uint loaded = timeline.Machine[(int)((bits >> 15) & 31)] + (uint)((int)bits >> 20);
            Assert.Equal(address, loaded);
            loads++;
            timeline.Step(new StopConditions());
        }
        Assert.True(loads >= 8, $"only {loads} loads of free_count"); // at least one per key inserted
    }

    private static uint Instruction(Timeline timeline, uint pc) => Word(timeline, pc);

    private static uint Word(Timeline timeline, uint address)
    {
        var bytes = new byte[4];
        Assert.True(timeline.TryReadMemory(address, bytes));
        return BitConverter.ToUInt32(bytes);
    }

    [Fact]
    public void Next_change_reports_what_the_reference_sees_word_by_word()
    {
        uint address = Symbol("free_count");
        var reference = ForwardReplay.Of(kv, [], address);
        var timeline = kv.NewTimeline(ulong.MaxValue);
        var seen = new List<WordChange>();
        while (timeline.NextChange(address, 4) is { } change)
            seen.Add(new WordChange(change.Position, change.Pc, BitConverter.ToUInt32(change.Before), BitConverter.ToUInt32(change.After)));
        Assert.Equal(reference.Changes, seen);
        Assert.Equal(reference.End, timeline.Position);
    }

    [Fact]
    public void Received_packets_count_as_changes_of_the_buffer_they_land_in()
    {
        // The receive buffer is written by the network device (RX_POP), not by a guest store.
        uint buffer = Symbol("rx_buf");
        var reference = ForwardReplay.Of(kv, [], buffer);
        Assert.NotEmpty(reference.Changes);
        var timeline = kv.NewTimeline(ulong.MaxValue);
        var first = timeline.NextChange(buffer, 4);
        Assert.NotNull(first);
        Assert.Equal(reference.Changes[0].Position, first.Position);
    }

    [Fact]
    public void Reverse_step_goes_back_one_instruction_and_stops_at_the_beginning()
    {
        var timeline = kv.NewTimeline(SmallInterval);
        timeline.SeekTo(250_003);
        for (ulong expected = 250_002; expected >= 249_990; expected--)
        {
            Assert.Equal(StopKind.Arrived, timeline.ReverseStep().Kind);
            Assert.Equal(expected, timeline.Position);
            Assert.Equal(ForwardReplay.PcAt(kv, expected), timeline.Machine.Pc);
        }
        timeline.SeekTo(1);
        Assert.Equal(StopKind.Arrived, timeline.ReverseStep().Kind);
        Assert.Equal(StopKind.HistoryBegin, timeline.ReverseStep().Kind);
        Assert.Equal(0ul, timeline.Position);
    }

    [Fact]
    public void Outputs_are_shown_once_however_often_the_history_is_replayed()
    {
        var shown = new List<MachineOutput>();
        var timeline = kv.NewTimeline(SmallInterval, shown);
        ulong end = ForwardReplay.Of(kv, []).End;
        timeline.SeekTo(end);
        int count = shown.Count;
        Assert.True(count > 40, $"only {count} outputs");
        timeline.SeekTo(end / 3);
        timeline.SeekTo(end);
        Assert.Equal(count, shown.Count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (ulong)i), shown.Select(o => o.Seq));
    }

    [Fact]
    public void Ctrl_c_stops_a_search_and_a_reverse_search_comes_back_to_where_it_started()
    {
        var timeline = kv.NewTimeline(SmallInterval);
        var conditions = new StopConditions();
        conditions.Breakpoints.Add(0x8000_0002); // never an instruction start
        Assert.Equal(StopKind.Interrupted, timeline.Continue(conditions, () => true).Kind);
        timeline.SeekTo(400_000);
        Assert.Equal(StopKind.Interrupted, timeline.ReverseContinue(conditions, () => true).Kind);
        Assert.Equal(400_000ul, timeline.Position);
    }

    [Fact]
    public void Control_registers_are_read_from_the_machine_state()
    {
        var timeline = kv.NewTimeline(SmallInterval);
        var conditions = new StopConditions();
        conditions.Breakpoints.Add(Symbol("on_trap"));
        Assert.NotEmpty(ForwardReplay.Of(kv, [Symbol("on_trap")]).Visits);
        Assert.Equal(StopKind.Breakpoint, timeline.Continue(conditions, NeverInterrupted).Kind);
        var machine = timeline.Machine;
        Assert.Equal(0x8000_000Bu, ControlRegisters.Read(machine, ControlRegisters.Mcause)); // on_trap runs for the network interrupt
        Assert.Equal(Symbol("trap_entry"), ControlRegisters.Read(machine, ControlRegisters.Mtvec) & ~3u);
        Assert.Equal(0u, ControlRegisters.Read(machine, ControlRegisters.Mstatus) & (1 << 3)); // interrupts off in the handler
        Assert.Equal(0x4000_1100u, ControlRegisters.Read(machine, ControlRegisters.Misa));
    }
}
