using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Engine.Tests;

/// <summary>A recorded run: the log as cut into segments, what the guest produced and where it ended.</summary>
public sealed record Recording(string Guest, List<LogSegment> Segments, List<MachineOutput> Outputs, ulong FinalHash, ulong FinalPosition, StopReason End)
{
    public LogEntry[] AllEntries => Segments.SelectMany(s => s.Entries).ToArray();

    /// <summary>The whole log as one final segment, with the given entries in place of the recorded ones.</summary>
    public LogSegment AsOneSegment(LogEntry[]? entries = null) =>
        new(0, FinalPosition, entries ?? AllEntries, Final: true, FinalStateHash: FinalHash);
}

/// <summary>The result of a replay.</summary>
public sealed record ReplayResult(List<MachineOutput> Outputs, ulong Hash, ulong Position, StopReason End, long EntriesUsed, long EntriesReceived);

/// <summary>Records guests on live inputs and replays them from logs, slicing runs at random.</summary>
public static class Recorder
{
    public const int MaxSlice = 50_000;

    /// <summary>
    /// Runs <paramref name="guest"/> live while recording: random run budgets, packets handed in at
    /// random points between runs (and whenever the guest sleeps), segments cut at random points.
    /// Ends when the guest halts, or sleeps with nothing left to deliver and no timer set.
    /// </summary>
    /// <param name="randomArrivals">False: hand packets in only while the guest sleeps.</param>
    /// <param name="translate">False: the recording machine runs everything in the interpreter.</param>
    public static Recording Record(string guest, Random random, IReadOnlyList<(uint Peer, string Text)>? packets = null, bool randomArrivals = true, bool translate = true)
    {
        packets ??= [];
        var recorder = new EventRecorder();
        var inputs = new LiveInputs(recorder);
        var machine = Repo.LoadGuest(guest, inputs, translate);
        var outputs = new List<MachineOutput>();
        var segments = new List<LogSegment>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        int next = 0;
        StopReason reason;
        while (true)
        {
            if (randomArrivals && next < packets.Count && random.Next(6) == 0) Deliver(inputs, packets[next++]);
            reason = machine.Run((ulong)random.Next(1, MaxSlice + 1));
            outputs.AddRange(machine.Outputs);
            machine.Outputs.Clear();
            if (reason is StopReason.Halted or StopReason.Faulted) break;
            if (random.Next(10) == 0) segments.Add(recorder.Cut(machine.Position));
            if (reason != StopReason.Waiting) continue;
            if (next < packets.Count)
            {
                Deliver(inputs, packets[next++]);
                continue;
            }
            if (machine.Mtimecmp == ulong.MaxValue || DateTime.UtcNow > deadline) break;
            var wait = inputs.UntilTimer(machine);
            Thread.Sleep(wait < TimeSpan.FromMilliseconds(3) ? wait : TimeSpan.FromMilliseconds(3));
        }
        Assert.Equal(packets.Count, next);
        ulong hash = StateHash.Compute(machine);
        segments.Add(recorder.Cut(machine.Position, final: true, hash));
        return new Recording(guest, segments, outputs, hash, machine.Position, reason);
    }

    private static void Deliver(LiveInputs inputs, (uint Peer, string Text) packet) =>
        inputs.Deliver(packet.Peer, Encoding.ASCII.GetBytes(packet.Text));

    /// <summary>
    /// Replays <paramref name="segments"/> on a fresh machine running <paramref name="guest"/>, in
    /// random slices, handing over one segment at a time only when the machine asks for more log.
    /// </summary>
    public static ReplayResult Replay(string guest, IReadOnlyList<LogSegment> segments, Random random, bool translate = true)
    {
        var inputs = new ReplayInputs();
        var machine = Repo.LoadGuest(guest, inputs, translate);
        var outputs = new List<MachineOutput>();
        int fed = 0;
        StopReason reason;
        while (true)
        {
            reason = machine.Run((ulong)random.Next(1, MaxSlice + 1));
            outputs.AddRange(machine.Outputs);
            machine.Outputs.Clear();
            if (reason is StopReason.Halted or StopReason.Faulted) break;
            if (reason == StopReason.NeedLog)
            {
                if (fed == segments.Count) break;
                inputs.Append(segments[fed++]);
            }
            Assert.NotEqual(StopReason.Waiting, reason); // replay never sleeps: the log says what comes next
        }
        return new ReplayResult(outputs, StateHash.Compute(machine), machine.Position, reason, inputs.NextEntryIndex, inputs.ReceivedEntryIndex);
    }

    /// <summary>Asserts two output streams are the same outputs at the same instruction counts.</summary>
    public static void AssertSameOutputs(IReadOnlyList<MachineOutput> expected, IReadOnlyList<MachineOutput> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var (e, a) = (expected[i], actual[i]);
            Assert.Equal((e.Seq, e.Position, e.Kind, e.Peer), (a.Seq, a.Position, a.Kind, a.Peer));
            Assert.Equal(e.Data, a.Data);
        }
    }
}
