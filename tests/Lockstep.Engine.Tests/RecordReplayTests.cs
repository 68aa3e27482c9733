using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;

namespace Lockstep.Engine.Tests;

/// <summary>
/// Property tests: for random slicings of the recording run and of the replay, random packet
/// arrival points and random segment cuts, a replay reproduces every output at the same
/// instruction count and ends in the same state.
/// </summary>
public class RecordReplayTests
{
    private static readonly (uint Peer, string Text)[] KvTraffic =
    [
        (1, "1 PUT a 5"), (2, "1 PUT b 7"), (1, "2 INCR a"), (1, "2 INCR a"), (3, "1 GET a"),
        (2, "2 DEL b"), (2, "3 GET b"), (1, "3 INCR n"), (3, "nonsense"), (1, "4 PUT long value with spaces"),
        (3, "2 GET long"), (1, "5 GET long"), (2, "4 INCR a"), (3, ""), (1, "6 DEL a"),
    ];

    private static void AssertReplayMatches(Recording recording, int replaySeed)
    {
        var replay = Recorder.Replay(recording.Guest, recording.Segments, new Random(replaySeed));
        Recorder.AssertSameOutputs(recording.Outputs, replay.Outputs);
        Assert.Equal(recording.FinalPosition, replay.Position);
        Assert.Equal(recording.FinalHash, replay.Hash);
        Assert.Equal(replay.EntriesReceived, replay.EntriesUsed); // every logged input was consumed
        Assert.Equal(recording.AllEntries.Length, replay.EntriesReceived);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Kv_replays_identically(int seed)
    {
        var recording = Recorder.Record("kv", new Random(seed), KvTraffic);
        Assert.Equal(StopReason.Waiting, recording.End);
        var replies = Run.Packets(recording.Outputs);
        Assert.Equal(KvTraffic.Length, replies.Count);
        Assert.Contains((1u, "2 6"), replies);
        Assert.Equal(2, replies.Count(r => r == (1u, "2 6")));  // the repeated request answered twice, executed once
        Assert.Contains((2u, "4 7"), replies);
        Assert.Contains((3u, "- ERR malformed request"), replies);
        Assert.Equal(KvTraffic.Length, recording.AllEntries.Count(e => e.Kind == EntryKind.Packet));

        AssertReplayMatches(recording, seed + 100);
        AssertReplayMatches(recording, seed + 200);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Clockrng_replays_identically(int seed)
    {
        var recording = Recorder.Record("clockrng", new Random(seed));
        Assert.Equal(StopReason.Halted, recording.End);
        Assert.Contains("mix: 0x", Run.Console(recording.Outputs));
        Assert.True(recording.Segments.Count > 1);
        AssertReplayMatches(recording, seed + 100);
    }

    [Theory]
    [InlineData(21)]
    [InlineData(22)]
    public void Ticker_replays_identically(int seed)
    {
        var recording = Recorder.Record("ticker", new Random(seed));
        Assert.Equal(StopReason.Halted, recording.End);
        Assert.Contains("tick 20 mtime=", Run.Console(recording.Outputs));
        Assert.Contains(recording.AllEntries, e => e.Kind == EntryKind.TimerOn);
        Assert.Contains(recording.AllEntries, e => e.Kind == EntryKind.TimerOff);
        AssertReplayMatches(recording, seed + 100);
    }

    [Fact]
    public void Two_recordings_of_clockrng_differ_but_each_replays_to_its_own_result()
    {
        var a = Recorder.Record("clockrng", new Random(31));
        var b = Recorder.Record("clockrng", new Random(32));
        Assert.NotEqual(Run.Console(a.Outputs), Run.Console(b.Outputs));
        Assert.NotEqual(a.FinalHash, b.FinalHash);
        AssertReplayMatches(b, 1);
        AssertReplayMatches(a, 2);
    }

    [Fact]
    public void Segments_handed_over_while_the_guest_sleeps_apply_at_their_positions()
    {
        // The secondary's situation: replay catches up with the primary while kv sleeps, and the
        // next packet only arrives in a later segment.
        var recorder = new EventRecorder();
        var inputs = new LiveInputs(recorder);
        var primary = Repo.LoadGuest("kv", inputs);
        var primaryOutputs = new List<MachineOutput>();
        var segments = new List<LogSegment>();
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(primary, primaryOutputs));
        segments.Add(recorder.Cut(primary.Position));
        foreach (string request in new[] { "1 PUT x 1", "2 INCR x", "3 GET x" })
        {
            inputs.Deliver(9, Encoding.ASCII.GetBytes(request));
            Assert.Equal(StopReason.Waiting, Run.UntilStopped(primary, primaryOutputs));
            segments.Add(recorder.Cut(primary.Position));
        }

        var replay = new ReplayInputs();
        var secondary = Repo.LoadGuest("kv", replay);
        var secondaryOutputs = new List<MachineOutput>();
        foreach (var segment in segments)
        {
            replay.Append(segment);
            Assert.Equal(StopReason.NeedLog, Run.UntilStopped(secondary, secondaryOutputs));
            Assert.Equal(segment.Horizon, secondary.Position);
        }
        Recorder.AssertSameOutputs(primaryOutputs, secondaryOutputs);
        Assert.Equal(Snapshots.StateHash.Compute(primary), Snapshots.StateHash.Compute(secondary));
        Assert.Equal("3 VALUE 2", Run.Packets(secondaryOutputs)[^1].Text);
    }

    // ---- Divergence --------------------------------------------------------------------

    private static Recording ClockrngRecording() => Recorder.Record("clockrng", new Random(41));

    private static DivergenceException ReplayExpectingDivergence(string guest, LogSegment segment)
    {
        return Assert.Throws<DivergenceException>(() => Recorder.Replay(guest, [segment], new Random(7)));
    }

    [Fact]
    public void A_read_logged_at_the_wrong_instruction_is_a_divergence_at_that_entry()
    {
        var recording = ClockrngRecording();
        var entries = recording.AllEntries;
        int index = Array.FindIndex(entries, 1000, e => e.Kind == EntryKind.Mtime);
        entries[index] = entries[index] with { Position = entries[index].Position + 1 };

        var e = ReplayExpectingDivergence("clockrng", recording.AsOneSegment(entries));
        Assert.Equal(index, e.EntryIndex);
        Assert.Contains($"#{index}", e.Message);
    }

    [Fact]
    public void A_missing_read_is_a_divergence_at_its_place()
    {
        var recording = ClockrngRecording();
        var entries = recording.AllEntries.ToList();
        int index = entries.FindIndex(2000, e => e.Kind == EntryKind.Random);
        entries.RemoveAt(index);

        var e = ReplayExpectingDivergence("clockrng", recording.AsOneSegment([.. entries]));
        Assert.Equal(index, e.EntryIndex);
        Assert.Contains($"#{index}", e.Message);
    }

    [Fact]
    public void A_read_of_the_wrong_kind_is_a_divergence()
    {
        var recording = ClockrngRecording();
        var entries = recording.AllEntries;
        int index = Array.FindIndex(entries, 500, e => e.Kind == EntryKind.Random);
        entries[index] = entries[index] with { Kind = EntryKind.Rtc };

        var e = ReplayExpectingDivergence("clockrng", recording.AsOneSegment(entries));
        Assert.Equal(index, e.EntryIndex);
    }

    [Fact]
    public void A_log_that_ends_early_is_a_divergence_when_the_machine_reads_past_it()
    {
        var recording = ClockrngRecording();
        var entries = recording.AllEntries[..^10];
        var e = ReplayExpectingDivergence("clockrng", recording.AsOneSegment(entries));
        Assert.Equal(entries.Length, e.EntryIndex);
        Assert.Contains("no entry", e.Message);
    }

    [Fact]
    public void A_dropped_packet_is_a_divergence_when_the_guest_sleeps_instead()
    {
        // Packets handed in only while kv sleeps: each one lands at the wfi it wakes from.
        var recording = Recorder.Record("kv", new Random(51), KvTraffic, randomArrivals: false);
        var entries = recording.AllEntries.ToList();
        Assert.All(entries, e => Assert.Equal(EntryKind.Packet, e.Kind));
        const int index = 4;
        entries.RemoveAt(index);

        var e = ReplayExpectingDivergence("kv", recording.AsOneSegment([.. entries]));
        Assert.Equal(index, e.EntryIndex);
        Assert.Contains("wfi", e.Message);
    }

    [Fact]
    public void Replaying_a_log_on_a_different_program_is_a_divergence()
    {
        var recording = ClockrngRecording();
        var e = ReplayExpectingDivergence("ticker", recording.AsOneSegment());
        Assert.InRange(e.EntryIndex, 0, recording.AllEntries.Length);
        Assert.Contains("divergence", e.Message);
    }

    [Fact]
    public void Changed_packet_contents_replay_to_a_different_state()
    {
        var recording = Recorder.Record("kv", new Random(61), KvTraffic);
        var entries = recording.AllEntries;
        int index = Array.FindIndex(entries, e => e.Kind == EntryKind.Packet && Encoding.ASCII.GetString(e.Data!) == "1 PUT a 5");
        entries[index] = entries[index] with { Data = "1 PUT a 8"u8.ToArray() };

        var replay = Recorder.Replay("kv", [recording.AsOneSegment(entries)], new Random(3));
        Assert.NotEqual(recording.FinalHash, replay.Hash);
        Assert.Contains((1u, "2 9"), Run.Packets(replay.Outputs));
    }

    [Fact]
    public void Replay_inputs_refuse_segments_out_of_order()
    {
        var replay = new ReplayInputs();
        replay.Append(new LogSegment(0, 100, [new LogEntry(EntryKind.Random, 5, 1), new LogEntry(EntryKind.Random, 6, 2)]));
        Assert.Throws<InvalidOperationException>(() => replay.Append(new LogSegment(3, 200, [])));
        Assert.Throws<InvalidOperationException>(() => replay.Append(new LogSegment(2, 50, [])));
        replay.Append(new LogSegment(2, 200, [], Final: true, FinalStateHash: 42));
        Assert.True(replay.IsFinal);
        Assert.Equal(42UL, replay.FinalStateHash);
        Assert.Equal(200UL, replay.Horizon);
        Assert.Throws<InvalidOperationException>(() => replay.Append(new LogSegment(2, 300, [])));
    }
}
