using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Devices;
using Lockstep.Engine.Snapshots;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

public class ConsoleRingTests
{
    private static byte[] Bytes(string s) => Encoding.ASCII.GetBytes(s);
    private static string Text((ulong Start, byte[] Data) read) => Encoding.ASCII.GetString(read.Data);

    [Fact]
    public void Keeps_everything_while_under_capacity_with_offsets_from_zero()
    {
        var ring = new ConsoleRing(16);
        ring.Append(Bytes("hello"));
        Assert.Equal(0UL, ring.Start);
        Assert.Equal(5UL, ring.End);
        Assert.Equal("hello", Text(ring.Read(0, 100)));
        var tail = ring.Read(2, 2);
        Assert.Equal(2UL, tail.Start);
        Assert.Equal("ll", Text(tail));
    }

    [Fact]
    public void Drops_the_oldest_bytes_past_capacity_and_offsets_keep_counting()
    {
        var ring = new ConsoleRing(4);
        ring.Append(Bytes("abcdefghij"));
        Assert.Equal(10UL, ring.End);
        Assert.Equal(6UL, ring.Start);
        var read = ring.Read(0, 100); // older than what is kept: starts where the kept bytes start
        Assert.Equal(6UL, read.Start);
        Assert.Equal("ghij", Text(read));
        foreach (char c in "klm") ring.Append((byte)c);
        Assert.Equal("jklm", Text(ring.Read(0, 100)));
        Assert.Equal(9UL, ring.Start);
    }

    [Fact]
    public void Reading_at_or_past_the_end_gives_nothing_at_the_end()
    {
        var ring = new ConsoleRing(8);
        ring.Append(Bytes("abc"));
        Assert.Equal((3UL, 0), (ring.Read(3, 10).Start, ring.Read(3, 10).Data.Length));
        Assert.Equal((3UL, 0), (ring.Read(99, 10).Start, ring.Read(99, 10).Data.Length));
        Assert.Empty(new ConsoleRing().Read(0, 10).Data);
    }

    [Fact]
    public void Reading_in_pieces_across_the_wrap_gives_the_stream_without_repeat_or_gap()
    {
        var ring = new ConsoleRing(300); // the buffer grows from 256 to 300, then wraps
        var written = new StringBuilder();
        var read = new StringBuilder();
        ulong next = 0;
        for (int i = 0; i < 200; i++)
        {
            string line = $"line {i}\n";
            written.Append(line);
            ring.Append(Bytes(line));
            while (true)
            {
                var piece = ring.Read(next, 7);
                Assert.Equal(next, piece.Start); // a reader that keeps up never skips
                if (piece.Data.Length == 0) break;
                read.Append(Encoding.ASCII.GetString(piece.Data));
                next = piece.Start + (ulong)piece.Data.Length;
            }
        }
        Assert.Equal(written.ToString(), read.ToString());
        Assert.Equal((ulong)written.Length, ring.End);
        Assert.Equal(300, ring.Count);
        Assert.Equal(written.ToString()[^300..], Text(ring.Read(0, 1000)));
    }

    [Fact]
    public void A_clone_and_a_saved_copy_hold_the_same_offsets_and_bytes()
    {
        var ring = new ConsoleRing(5);
        ring.Append(Bytes("0123456789"));
        var clone = ring.Clone();
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true)) ring.Save(writer);
        stream.Position = 0;
        var loaded = new ConsoleRing(1);
        loaded.Load(new BinaryReader(stream));
        foreach (var copy in new[] { clone, loaded })
        {
            Assert.Equal((5UL, 10UL, 5), (copy.Start, copy.End, copy.Capacity));
            Assert.Equal("56789", Text(copy.Read(0, 100)));
            copy.Append((byte)'x');
            Assert.Equal("6789x", Text(copy.Read(0, 100)));
        }
        Assert.Equal("56789", Text(ring.Read(0, 100))); // the copies are independent
    }

    [Fact]
    public void Resizing_keeps_the_newest_bytes()
    {
        var ring = new ConsoleRing(10);
        ring.Append(Bytes("abcdefgh"));
        ring.Resize(3);
        Assert.Equal((5UL, 8UL), (ring.Start, ring.End));
        Assert.Equal("fgh", Text(ring.Read(0, 10)));
        ring.Resize(6);
        ring.Append(Bytes("ijk"));
        Assert.Equal("fghijk", Text(ring.Read(0, 10)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(ConsoleRing.MaxCapacity + 1)]
    public void A_capacity_out_of_range_is_refused(int capacity)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConsoleRing(capacity));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ConsoleRing().Resize(capacity));
    }

    [Fact]
    public void A_corrupt_saved_ring_is_refused()
    {
        var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(4);     // capacity
            writer.Write(2UL);   // end
            writer.Write(3);     // more bytes kept than were ever written
            writer.Write(Bytes("abc"));
        }
        stream.Position = 0;
        Assert.Throws<InvalidDataException>(() => new ConsoleRing().Load(new BinaryReader(stream)));
    }

    /// <summary>A guest writing the UART as fast as it can: the kept bytes stay at the capacity, the offsets count them all.</summary>
    [Fact]
    public void A_console_flood_keeps_the_machine_ring_bounded_and_travels_in_snapshots()
    {
        var machine = new Prog
        {
            Li(A0, MemoryMap.Uart),
            Addi(A1, Zero, 'a'),
            Sb(A1, A0, 0),           // loop: one byte out
            Addi(A1, A1, 1),
            Jal(Zero, -8),
        }.Load();
        machine.ConsoleTail.Resize(1024);
        ulong consoleBytes = 0;
        for (int i = 0; i < 20_000; i++)
        {
            machine.Run(10_000); // stops after each output
            foreach (var output in machine.Outputs) consoleBytes += (ulong)output.Data.Length;
            machine.Outputs.Clear();
        }
        Assert.True(consoleBytes > 10_000, $"only {consoleBytes} console bytes");
        Assert.Equal(consoleBytes, machine.ConsoleTail.End);
        Assert.Equal(1024, machine.ConsoleTail.Count);
        var kept = machine.ConsoleTail.Read(0, 2048);
        Assert.Equal(consoleBytes - 1024, kept.Start);
        for (int i = 1; i < kept.Data.Length; i++) Assert.Equal((byte)(kept.Data[i - 1] + 1), kept.Data[i]);

        var copy = new Machine(Prog.SmallRam);
        MachineSnapshot.Restore(copy, MachineSnapshot.CaptureFull(machine));
        Assert.Equal(StateHash.Compute(machine), StateHash.Compute(copy));
        AssertKept(kept, copy.ConsoleTail);
        var fromCheckpoint = new Machine(Prog.SmallRam);
        CheckpointChain.Restore(fromCheckpoint, new CheckpointChain().Capture(machine).Bytes, []);
        AssertKept(kept, fromCheckpoint.ConsoleTail);
    }

    private static void AssertKept((ulong Start, byte[] Data) expected, ConsoleRing actual)
    {
        var read = actual.Read(0, 2048);
        Assert.Equal(expected.Start, read.Start);
        Assert.Equal(expected.Data, read.Data);
    }
}
