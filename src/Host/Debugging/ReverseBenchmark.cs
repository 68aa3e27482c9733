using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Host.Debugging;

/// <summary>
/// `lockstep bench debugger`: records a compute guest for a given number of instructions, then
/// times reverse execution on that recording (reverse-stepi and reverse-continue from random
/// positions, and full backward scans), next to the reference measured in the same run: a
/// replay from the start, which is what every step back would cost without checkpoints.
/// </summary>
public static class ReverseBenchmark
{
    private const ulong RecordSlice = 1 << 22;

    public static int Run(string imagePath, ulong instructions, ulong interval, int samples, TextWriter output)
    {
        byte[] image = File.ReadAllBytes(imagePath);
        var symbols = ElfSymbols.Read(image);
        var segments = Record(image, instructions, out double recordSeconds);
        ulong end = segments[^1].Horizon;
        output.WriteLine($"recording: {Path.GetFileName(imagePath)}, {end} instructions, recorded in {recordSeconds:F2} s, {segments.Sum(s => s.Entries.Length)} log entries");

        var reference = NewTimeline(image, segments, ulong.MaxValue);
        double fromStart = Time(() => reference.SeekTo(end));
        output.WriteLine($"reference: replay from the start to the end {fromStart:F2} s ({end / fromStart / 1e6:F0} MIPS); without checkpoints a step back costs up to this");

        var timeline = NewTimeline(image, segments, interval);
        double firstPass = Time(() => timeline.SeekTo(end));
        output.WriteLine($"first pass to the end, checkpoint every {interval} instructions: {firstPass:F2} s, {timeline.CheckpointCount} checkpoints, {timeline.CheckpointBytes / (1 << 20)} MiB");

        var random = new Random(16);
        ulong RandomPosition() => (ulong)random.NextInt64(1, (long)end);
        timeline.ReverseStep(); // not timed: the first one also compiles the debugger's own code
        var steps = Sample(samples, () =>
        {
            ulong at = RandomPosition();
            timeline.SeekTo(at);
            double seconds = Time(() => timeline.ReverseStep());
            if (timeline.Position != at - 1) throw new InvalidOperationException($"reverse step from {at} landed at {timeline.Position}");
            return (seconds, 1ul);
        });
        Report(output, $"reverse-stepi from {samples} random positions", steps);

        if (symbols.TryGetValue("rng_state", out uint rng))
        {
            var watch = new StopConditions();
            watch.Watches.Add(new Watch(rng, 4, WatchKind.Write));
            Report(output, $"reverse-continue to the last write of rng_state, {samples} positions", ReverseContinues(timeline, watch, samples, RandomPosition));
        }
        if (symbols.TryGetValue("quicksort.constprop.0", out uint sort))
        {
            var breakpoint = new StopConditions();
            breakpoint.Breakpoints.Add(sort);
            Report(output, $"reverse-continue to the last call of quicksort, {Math.Max(samples / 5, 1)} positions", ReverseContinues(timeline, breakpoint, Math.Max(samples / 5, 1), RandomPosition));
        }

        // A word of the unused heap, a page away from the last static data, so that its page stays clean.
        uint unused = (symbols.GetValueOrDefault("__heap_start", MemoryMap.RamBase + 0x80_0000) | (MemoryMap.PageSize - 1)) + 1 + MemoryMap.PageSize;
        var never = new StopConditions();
        never.Watches.Add(new Watch(unused, 4, WatchKind.Write));
        FullScan(output, timeline, end, never, "write watch on a word never written (its page clean)");
        never = new StopConditions();
        never.Breakpoints.Add(symbols.GetValueOrDefault("_exit", MemoryMap.RamBase + 2));
        FullScan(output, timeline, end, never, "breakpoint never reached");
        output.WriteLine("(the machine is shared with other work: compare figures of the same run)");
        return 0;
    }

    private static List<LogSegment> Record(byte[] image, ulong instructions, out double seconds)
    {
        var recorder = new EventRecorder();
        var machine = new Machine(MemoryMap.DefaultRamSize, new LiveInputs(recorder));
        ElfLoader.Load(machine, image);
        var segments = new List<LogSegment>();
        var clock = Stopwatch.StartNew();
        while (machine.Position < instructions && !machine.IsHalted)
        {
            var reason = machine.Run(Math.Min(RecordSlice, instructions - machine.Position));
            machine.Outputs.Clear();
            if (reason == StopReason.Waiting) throw new InvalidOperationException("the benchmark guest must compute, not sleep");
            if (recorder.PendingCount >= 4096) segments.Add(recorder.Cut(machine.Position));
        }
        segments.Add(recorder.Cut(machine.Position, final: true, StateHash.Compute(machine)));
        seconds = clock.Elapsed.TotalSeconds;
        return segments;
    }

    private static Timeline NewTimeline(byte[] image, List<LogSegment> segments, ulong interval)
    {
        var inputs = new RecordedInputs(segments);
        var machine = new Machine(MemoryMap.DefaultRamSize, inputs.FromStart());
        ElfLoader.Load(machine, image);
        return new Timeline(machine, inputs, _ => { }, interval);
    }

    private static List<(double Seconds, ulong Distance)> ReverseContinues(Timeline timeline, StopConditions conditions, int count, Func<ulong> position) =>
        Sample(count, () =>
        {
            ulong at = position();
            timeline.SeekTo(at);
            double seconds = Time(() => timeline.ReverseContinue(conditions, () => false));
            return (seconds, at - timeline.Position);
        });

    private static void FullScan(TextWriter output, Timeline timeline, ulong end, StopConditions conditions, string what)
    {
        timeline.SeekTo(end);
        StopKind kind = StopKind.Arrived;
        double seconds = Time(() => kind = timeline.ReverseContinue(conditions, () => false).Kind);
        output.WriteLine($"reverse-continue over the whole recording, {what}: {seconds:F2} s ({end / seconds / 1e6:F0} MIPS of backward search), ended at {kind}");
    }

    private static List<(double Seconds, ulong Distance)> Sample(int count, Func<(double, ulong)> one) =>
        Enumerable.Range(0, count).Select(_ => one()).ToList();

    private static void Report(TextWriter output, string what, List<(double Seconds, ulong Distance)> samples)
    {
        var times = samples.Select(s => s.Seconds * 1e3).Order().ToList();
        var distances = samples.Select(s => s.Distance).Order().ToList();
        output.WriteLine($"{what}: p50 {times[times.Count / 2]:F1} ms, max {times[^1]:F1} ms; instructions back p50 {distances[distances.Count / 2]}, max {distances[^1]}");
    }

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalSeconds;
    }
}
