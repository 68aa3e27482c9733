using System.Text;
using Akka.Configuration;
using Lockstep.Actors.Executors;
using Lockstep.Actors.Node;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;

namespace Lockstep.Actors.Tests;

/// <summary>A reader's place in a console stream, and a primary's released console (no actor system).</summary>
public sealed class ConsoleCursorTests
{
    private static byte[] Bytes(string s) => Encoding.ASCII.GetBytes(s);
    private static ConsoleChunk Chunk(ulong keptFrom, ulong start, string data, ulong end) => new("vm", keptFrom, start, Bytes(data), end);

    [Fact]
    public void A_reader_goes_on_from_where_the_last_chunk_ended()
    {
        var cursor = new ConsoleCursor("vm");
        Assert.Null(cursor.Request().From);
        var first = cursor.Take(Chunk(0, 0, "abc", 5));
        Assert.False(first.CaughtUp);
        Assert.Equal(3UL, cursor.Request().From);
        var second = cursor.Take(Chunk(0, 3, "de", 5));
        Assert.True(second.CaughtUp);
        Assert.Equal((0UL, (ulong?)null), (second.Skipped, second.WentBackTo));
        Assert.Equal(5UL, cursor.Request().From);
    }

    [Fact]
    public void Asking_for_the_last_bytes_only_applies_to_the_first_request()
    {
        var cursor = new ConsoleCursor("vm", lastBytes: 1024);
        Assert.Equal(1024, cursor.Request().LastBytes);
        var step = cursor.Take(Chunk(0, 4000, "x", 4001));
        Assert.Equal(0UL, step.Skipped); // asked for the tail: what came before is not missed
        Assert.Null(cursor.Request().LastBytes);
    }

    [Fact]
    public void Bytes_no_longer_kept_are_reported_as_skipped()
    {
        var fromStart = new ConsoleCursor("vm");
        Assert.Equal(100UL, fromStart.Take(Chunk(100, 100, "abc", 103)).Skipped);
        var slow = new ConsoleCursor("vm");
        slow.Take(Chunk(0, 0, "ab", 2));
        var behind = slow.Take(Chunk(50, 50, "zz", 52)); // the ring moved past this reader's place
        Assert.Equal(48UL, behind.Skipped);
        Assert.Equal(52UL, slow.Next);
    }

    [Fact]
    public void A_stream_that_now_ends_before_the_reader_is_said_to_have_gone_back()
    {
        var cursor = new ConsoleCursor("vm");
        cursor.Take(Chunk(0, 0, "abcdef", 6));
        var step = cursor.Take(Chunk(0, 4, "", 4)); // a VM rebuilt from a journal that trailed the released output
        Assert.Equal(4UL, step.WentBackTo);
        Assert.Equal(4UL, cursor.Next);
    }

    [Fact]
    public void A_feed_continues_the_offsets_of_the_machine_it_launches_with()
    {
        var machine = new Machine(64 * 1024);
        machine.ConsoleTail.Append(Bytes("made before the launch\n"));
        var feed = new ConsoleFeed("vm", machine, 8);
        Assert.Equal(8, machine.ConsoleTail.Capacity); // the node's setting goes into the state, so the secondary has it too
        Assert.Equal(23UL, feed.End);
        feed.Released(new MachineOutput(0, 0, OutputKind.Console, 0, Bytes("!")));
        var all = feed.Read(new GetConsole("vm"));
        Assert.Equal((16UL, 16UL, 24UL), (all.KeptFrom, all.Start, all.End));
        Assert.Equal("launch\n!", Encoding.ASCII.GetString(all.Data));
        var last = feed.Read(new GetConsole("vm", LastBytes: 2));
        Assert.Equal("\n!", Encoding.ASCII.GetString(last.Data));
        var capped = feed.Read(new GetConsole("vm", From: 17, MaxBytes: 3));
        Assert.Equal((17UL, "aun"), (capped.Start, Encoding.ASCII.GetString(capped.Data)));
        var huge = feed.Read(new GetConsole("vm", MaxBytes: int.MaxValue));
        Assert.Equal(8, huge.Data.Length);
    }

    [Fact]
    public void Console_kept_defaults_to_64_KiB_and_can_be_set()
    {
        Assert.Equal(64 * 1024, LockstepSettingsConfig.From(ConfigurationFactory.ParseString("lockstep.max-lag = 100ms")).ConsoleKeptBytes);
        Assert.Equal(1024 * 1024, LockstepSettingsConfig.From(ConfigurationFactory.ParseString("lockstep.console-kept = 1MiB")).ConsoleKeptBytes);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("17MiB")]
    public void A_console_kept_out_of_range_is_refused(string value) =>
        Assert.Throws<ArgumentException>(() => LockstepSettingsConfig.From(ConfigurationFactory.ParseString($"lockstep.console-kept = {value}")));
}
