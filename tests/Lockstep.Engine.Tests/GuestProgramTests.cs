using System.Text;
using System.Text.RegularExpressions;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Engine.Tests;

public class GuestProgramTests
{
    [Fact]
    public void Hello_prints_its_greeting_and_exits_0()
    {
        var machine = Repo.LoadGuest("hello");
        var outputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine, outputs));
        Assert.Equal(0, machine.ExitCode);
        Assert.Null(machine.Fault);
        string text = Run.Console(outputs);
        Assert.Contains("Hello from Lockstep!", text);
        Assert.Equal("Hello from Lockstep!\nRV32IM guest, machine mode, exiting with status 0.\n", text);
        // One console output per byte, numbered without gaps, at increasing positions.
        Assert.Equal(Enumerable.Range(0, outputs.Count).Select(i => (ulong)i), outputs.Select(o => o.Seq));
        Assert.True(outputs.Zip(outputs.Skip(1)).All(p => p.First.Position < p.Second.Position));
        Assert.All(outputs, o => Assert.Equal(OutputKind.Console, o.Kind));
    }

    [Fact]
    public void Hello_runs_the_same_in_any_slicing()
    {
        var whole = Repo.LoadGuest("hello");
        Assert.Equal(StopReason.Halted, Run.UntilStopped(whole));
        var sliced = Repo.LoadGuest("hello");
        var random = new Random(5);
        StopReason reason;
        do reason = sliced.Run((ulong)random.Next(1, 300));
        while (reason is StopReason.Budget or StopReason.Output);
        Assert.Equal(StopReason.Halted, reason);
        Assert.Equal(whole.Position, sliced.Position);
        Assert.Equal(StateHash.Compute(whole), StateHash.Compute(sliced));
    }

    [Fact]
    public void Bench_prints_the_reference_checksum_and_replays_identically()
    {
        // 0x30322b65 is what qemu-system-riscv32 -M virt prints for this guest; the value depends only
        // on correct RV32IM execution (see guests/bench.c).
        var recorder = new EventRecorder();
        var first = Repo.LoadGuest("bench", new LiveInputs(recorder));
        var firstOutputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Halted, Run.UntilStopped(first, firstOutputs, limit: 2_000_000_000, slice: 50_000_000));
        Assert.Equal(0, first.ExitCode);
        string text = Run.Console(firstOutputs);
        var match = Regex.Match(text, @"\Abench: \d+ rounds\nchecksum: (0x[0-9a-f]{8})\ninstret: (\d+)\n\z");
        Assert.True(match.Success, text);
        Assert.Equal("0x30322b65", match.Groups[1].Value);
        // minstret is read a little before the end: it counts retired instructions exactly.
        ulong instret = ulong.Parse(match.Groups[2].Value);
        Assert.InRange(instret, first.Position - 20_000, first.Position - 1);

        // Nothing non-deterministic happens in bench: the log is empty and a replay is identical.
        ulong hash = StateHash.Compute(first);
        var segment = recorder.Cut(first.Position, final: true, hash);
        Assert.Empty(segment.Entries);
        var replay = new ReplayInputs();
        replay.Append(segment);
        var second = Repo.LoadGuest("bench", replay);
        var secondOutputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Halted, Run.UntilStopped(second, secondOutputs, limit: 2_000_000_000, slice: 37_000_001));
        Assert.Equal(text, Run.Console(secondOutputs));
        Assert.Equal(first.Position, second.Position);
        Assert.Equal(hash, StateHash.Compute(second));
    }

    [Fact]
    public void Ticker_ticks_twenty_times_on_timer_interrupts()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("ticker", inputs);
        var outputs = new List<MachineOutput>();
        var end = Drive(machine, inputs, outputs);
        Assert.Equal(StopReason.Halted, end);
        Assert.Equal(0, machine.ExitCode);
        string text = Run.Console(outputs);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("ticker: 20 ticks of 100000 mtime units", lines[0]);
        for (int i = 1; i <= 20; i++) Assert.StartsWith($"tick {i} mtime=", lines[i]);
        Assert.StartsWith("ticker: done after ", lines[21]);
        Assert.Equal(22, lines.Length);
        // The clock the guest sees never goes back.
        var mtimes = lines[1..21].Select(l => ulong.Parse(Regex.Match(l, @"mtime=(\d+)").Groups[1].Value)).ToArray();
        Assert.Equal(mtimes.Order(), mtimes);
        Assert.True(machine.LastMtime >= mtimes[^1]);
    }

    [Fact]
    public void Clockrng_reads_every_input_and_reports_no_clock_going_backwards()
    {
        var recorder = new EventRecorder();
        var machine = Repo.LoadGuest("clockrng", new LiveInputs(recorder));
        var outputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Halted, Run.UntilStopped(machine, outputs, limit: 500_000_000));
        Assert.Equal(0, machine.ExitCode);
        string text = Run.Console(outputs);
        Assert.Matches(@"\Aclockrng: 200000 iterations, last mtime=\d+ rtc_ns=\d+\nmix: 0x[0-9a-f]{16}\n\z", text);
        var kinds = recorder.Cut(machine.Position).Entries.GroupBy(e => e.Kind).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(200_000, kinds[EntryKind.Random]);
        Assert.True(kinds[EntryKind.Mtime] >= 200_000 * 5); // 2 CSR + 3 MMIO reads per round, at least
        Assert.InRange(kinds[EntryKind.Rtc], 15_000, 35_000); // about one round in eight
    }

    // ---- kv ------------------------------------------------------------------------------

    /// <summary>kv, started and asleep waiting for packets.</summary>
    private static (Machine Machine, LiveInputs Inputs) StartKv()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("kv", inputs);
        var outputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, outputs));
        Assert.Equal("kv: ready\n", Run.Console(outputs));
        return (machine, inputs);
    }

    /// <summary>Sends one request and returns the replies (peer, text) produced until kv sleeps again.</summary>
    private static List<(uint Peer, string Text)> Ask(Machine machine, LiveInputs inputs, uint peer, string request)
    {
        inputs.Deliver(peer, Encoding.ASCII.GetBytes(request));
        var outputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine, outputs));
        Assert.DoesNotContain(outputs, o => o.Kind == OutputKind.Console);
        return Run.Packets(outputs);
    }

    private static string AskOne(Machine machine, LiveInputs inputs, uint peer, string request)
    {
        var reply = Assert.Single(Ask(machine, inputs, peer, request));
        Assert.Equal(peer, reply.Peer);
        return reply.Text;
    }

    [Fact]
    public void Kv_serves_the_protocol_with_exactly_once_replies()
    {
        var (kv, inputs) = StartKv();
        Assert.Equal("1 OK", AskOne(kv, inputs, 4, "1 PUT a 5"));
        Assert.Equal("2 VALUE 5", AskOne(kv, inputs, 4, "2 GET a"));
        Assert.Equal("3 6", AskOne(kv, inputs, 4, "3 INCR a"));
        Assert.Equal("3 6", AskOne(kv, inputs, 4, "3 INCR a"));   // a repeat: the answer again, not executed again
        Assert.Equal("4 VALUE 6", AskOne(kv, inputs, 4, "4 GET a"));
        Assert.Equal("5 OK", AskOne(kv, inputs, 4, "5 DEL a"));
        Assert.Equal("6 NOTFOUND", AskOne(kv, inputs, 4, "6 GET a"));
        Assert.Equal("7 1", AskOne(kv, inputs, 4, "7 INCR n"));
        Assert.Equal("8 ERR unknown command", AskOne(kv, inputs, 4, "8 FROB x"));
        Assert.Equal("9 NOTFOUND", AskOne(kv, inputs, 4, "9 DEL a"));
    }

    [Fact]
    public void Kv_remembers_answers_per_peer()
    {
        var (kv, inputs) = StartKv();
        Assert.Equal("1 1", AskOne(kv, inputs, 10, "1 INCR c"));
        Assert.Equal("1 2", AskOne(kv, inputs, 11, "1 INCR c"));  // same id, other peer: a new request
        Assert.Equal("1 1", AskOne(kv, inputs, 10, "1 INCR c"));  // each peer gets its own remembered answer
        Assert.Equal("1 2", AskOne(kv, inputs, 11, "1 INCR c"));
        Assert.Equal("2 VALUE 2", AskOne(kv, inputs, 12, "2 GET c"));
    }

    [Theory]
    [InlineData("garbage", "garbage ERR malformed request")]
    [InlineData("", "- ERR malformed request")]
    [InlineData("     ", "- ERR malformed request")]
    [InlineData("12 PUT k", "12 ERR malformed request")]
    [InlineData("12 GET", "12 ERR malformed request")]
    [InlineData("12 GET a b", "12 ERR malformed request")]
    [InlineData("0123456789012345678901234567890123 GET a", "- ERR id too long")]
    public void Kv_answers_bad_requests_with_err(string request, string reply)
    {
        var (kv, inputs) = StartKv();
        Assert.Equal(reply, AskOne(kv, inputs, 2, request));
    }

    [Fact]
    public void Kv_values_keep_spaces_and_commands_ignore_case_and_trailing_newlines()
    {
        var (kv, inputs) = StartKv();
        Assert.Equal("1 OK", AskOne(kv, inputs, 3, "1   put   greeting   hello  there \r\n"));
        Assert.Equal("2 VALUE hello  there ", AskOne(kv, inputs, 3, "2 GeT greeting\n"));
        Assert.Equal("3 ERR not an integer", AskOne(kv, inputs, 3, "3 INCR greeting"));
        Assert.Equal("4 OK", AskOne(kv, inputs, 3, "4 PUT big 9223372036854775807"));
        Assert.Equal("5 ERR integer overflow", AskOne(kv, inputs, 3, "5 INCR big"));
        Assert.Equal("6 OK", AskOne(kv, inputs, 3, "6 PUT neg -10"));
        Assert.Equal("7 -9", AskOne(kv, inputs, 3, "7 incr neg"));
    }

    [Fact]
    public void Kv_drains_a_burst_of_packets_in_order()
    {
        var (kv, inputs) = StartKv();
        for (int i = 1; i <= 20; i++) inputs.Deliver((uint)(100 + i % 3), Encoding.ASCII.GetBytes($"{i} INCR burst"));
        var outputs = new List<MachineOutput>();
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(kv, outputs));
        var replies = Run.Packets(outputs);
        Assert.Equal(20, replies.Count);
        for (int i = 1; i <= 20; i++)
        {
            Assert.Equal((uint)(100 + i % 3), replies[i - 1].Peer);
            Assert.Equal($"{i} {i}", replies[i - 1].Text);
        }
    }

    /// <summary>Runs a live machine to its end, sleeping (briefly) while it waits for its timer.</summary>
    internal static StopReason Drive(Machine machine, LiveInputs inputs, List<MachineOutput> outputs, ulong limit = 500_000_000)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var reason = Run.UntilStopped(machine, outputs, limit);
            if (reason != StopReason.Waiting) return reason;
            if (machine.Mtimecmp == ulong.MaxValue && !inputs.HasArrivals) return reason;
            if (DateTime.UtcNow > deadline) return reason;
            var wait = inputs.UntilTimer(machine);
            Thread.Sleep(wait < TimeSpan.FromMilliseconds(5) ? wait : TimeSpan.FromMilliseconds(5));
        }
    }
}
