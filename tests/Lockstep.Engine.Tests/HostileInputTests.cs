using System.Buffers.Binary;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Running;
using Lockstep.Engine.Snapshots;
using Lockstep.Harness.Fuzzing;

namespace Lockstep.Engine.Tests;

/// <summary>
/// Every engine decoder of bytes from outside, fed thousands of spoiled inputs (<see cref="Mutator"/>, seeded:
/// a failure names the seed that makes its input again). Each input is accepted or refused with the decoder's
/// own exception; nothing else escapes and no allocation is sized by a length read from the input. Where a
/// checksum guards the bytes, half the cases are sealed again after spoiling, so the body behind it is reached.
/// </summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lockstep-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Type[] LogRefusals = [typeof(LogFormatException)];
    private static readonly Type[] SnapshotRefusals = [typeof(InvalidDataException)];

    /// <summary>Some of everything the codec writes: all entry kinds, packets, a final hash.</summary>
    private static LogSegment[] Segments() =>
    [
        new(0, 900, [
            new LogEntry(EntryKind.Mtime, 3, 1_000_000), new LogEntry(EntryKind.Rtc, 10, 1_700_000_000_000_000_000),
            new LogEntry(EntryKind.Random, 10, 0xDEADBEEF), new LogEntry(EntryKind.Packet, 500, 0, 7, "1 PUT a 5"u8.ToArray()),
            new LogEntry(EntryKind.TimerOn, 700), new LogEntry(EntryKind.TimerOff, 899)]),
        new(6, 5000, [new LogEntry(EntryKind.Packet, 4000, 0, 0x8000_0001, new byte[300]), new LogEntry(EntryKind.Mtime, 4999, 2_000_000)]),
        new(8, 6000, [new LogEntry(EntryKind.Random, 5999, 1)], Final: true, FinalStateHash: 0x0123456789ABCDEF),
    ];

    /// <summary>A frame spoiled, then (in half the cases) given a length and checksum that match its spoiled body.</summary>
    private static byte[] SpoiledFrame(Random random)
    {
        var segments = Segments();
        byte[] frame = Mutator.Mutate(LogCodec.Encode(segments[random.Next(segments.Length)]), random);
        if (random.Next(2) == 0 || frame.Length < LogCodec.FrameHeaderSize) return frame;
        var body = frame.AsSpan(LogCodec.FrameHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), Crc32.Compute(body));
        return frame;
    }

    [Fact]
    public void Spoiled_log_segments_are_decoded_or_refused_with_a_log_format_error()
    {
        var outcome = FuzzRun.Run("LogCodec.Decode", FuzzRun.Cases(6000), SpoiledFrame,
            frame => LogCodec.Decode(frame, "fuzzed segment"), LogRefusals, length => 64L * length + 4096);
        // The sealed cases get past the checksum: some bodies still decode, most are refused for what is inside.
        Assert.True(outcome.Accepted > 0 && outcome.Refused > outcome.Accepted, Describe(outcome));
    }

    [Fact]
    public void A_logged_packet_larger_than_the_device_takes_is_refused_not_replayed()
    {
        var segment = new LogSegment(0, 10, [new LogEntry(EntryKind.Packet, 5, 0, 1, new byte[NetInputFile.MaxLine + 1])]);
        var refused = Assert.Throws<LogFormatException>(() => LogCodec.Decode(LogCodec.Encode(segment), "oversized"));
        Assert.Contains("packet", refused.Message);
        var largest = new LogSegment(0, 10, [new LogEntry(EntryKind.Packet, 5, 0, 1, new byte[NetInputFile.MaxLine])]);
        Assert.Equal(NetInputFile.MaxLine, LogCodec.Decode(LogCodec.Encode(largest), "largest").Entries[0].Data!.Length);
    }

    private static byte[] ValidLog()
    {
        var stream = new MemoryStream();
        LogFile.WriteHeader(stream, new LogHeader(16 << 20, new byte[32]));
        foreach (var segment in Segments()) LogFile.WriteSegment(stream, segment);
        return stream.ToArray();
    }

    [Fact]
    public void Spoiled_log_files_are_read_or_refused_with_a_log_format_error()
    {
        byte[] valid = ValidLog();
        string path = Path.Combine(_dir, "fuzzed.log");
        var outcome = FuzzRun.Run("LogFile.Read", FuzzRun.Cases(600), random => Mutator.Mutate(valid, random), bytes =>
        {
            File.WriteAllBytes(path, bytes);
            LogFile.Read(path);
        }, LogRefusals, length => 64L * length + 64 * 1024);
        Assert.True(outcome.Refused > 0, Describe(outcome));
    }

    /// <summary>A kv machine with two packets queued in its network device (so the core carries some), and a full checkpoint and an increment of it.</summary>
    private static (byte[] Full, byte[] Increment, byte[] Snapshot, byte[] Delta) Checkpoints()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("kv", inputs);
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
        var chain = new CheckpointChain();
        byte[] full = chain.Capture(machine).Bytes;
        inputs.Deliver(6, Encoding.ASCII.GetBytes("1 PUT a 5"));
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
        machine.ClearDirtyPages();
        inputs.Deliver(6, Encoding.ASCII.GetBytes("2 PUT b 6"));
        inputs.Deliver(7, new byte[1000]);
        machine.Run(1);
        Assert.True(machine.QueuedPackets > 0);
        var increment = chain.Capture(machine);
        Assert.False(increment.IsFull);
        return (full, increment.Bytes, MachineSnapshot.CaptureFull(machine), MachineSnapshot.CaptureDelta(machine));
    }

    private static byte[] Resealed(byte[] checkpoint)
    {
        if (checkpoint.Length < 8) return checkpoint;
        int body = checkpoint.Length - 8;
        BinaryPrimitives.WriteUInt64LittleEndian(checkpoint.AsSpan(body), StateHash.Hash(checkpoint.AsSpan(0, body)));
        return checkpoint;
    }

    [Fact]
    public void Spoiled_checkpoints_are_applied_or_refused_and_a_refused_one_leaves_the_machine_as_it_was()
    {
        var (full, increment, _, _) = Checkpoints();
        var machine = new Machine(MemoryMap.DefaultRamSize);
        CheckpointFormat.Apply(machine, full);
        var outcome = FuzzRun.Run("CheckpointFormat.Apply", FuzzRun.Cases(1500), random =>
        {
            byte[] spoiled = Mutator.Mutate(random.Next(2) == 0 ? full : increment, random);
            return random.Next(3) == 0 ? spoiled : Resealed(spoiled);
        }, bytes =>
        {
            ulong before = StateHash.Compute(machine);
            try
            {
                CheckpointFormat.Apply(machine, bytes);
            }
            catch (InvalidDataException)
            {
                if (StateHash.Compute(machine) != before) throw new InvalidOperationException("a refused checkpoint changed the machine");
                throw;
            }
        }, SnapshotRefusals, length => 4L * length + (1 << 20));
        Assert.True(outcome.Accepted > 0 && outcome.Refused > 0, Describe(outcome));
    }

    [Fact]
    public void Spoiled_snapshots_of_the_older_kinds_are_restored_or_refused()
    {
        // The channel's snapshots carry no checksum of their own (the link has none either): only the structure guards them.
        var (_, _, snapshot, delta) = Checkpoints();
        var machine = new Machine(MemoryMap.DefaultRamSize);
        var outcome = FuzzRun.Run("MachineSnapshot.Restore", FuzzRun.Cases(1500),
            random => Mutator.Mutate(random.Next(2) == 0 ? snapshot : delta, random),
            bytes => MachineSnapshot.Restore(machine, bytes), SnapshotRefusals, length => 4L * length + (1 << 20));
        Assert.True(outcome.Accepted > 0 && outcome.Refused > 0, Describe(outcome));
    }

    [Fact]
    public void A_snapshot_that_announces_a_huge_queued_packet_is_refused_before_anything_is_allocated_for_it()
    {
        var (_, _, snapshot, _) = Checkpoints();
        // The 1000-byte packet's length field: find it after the queued packets' peer 7.
        int at = FindPacketLength(snapshot, peer: 7, length: 1000);
        BinaryPrimitives.WriteInt32LittleEndian(snapshot.AsSpan(at), int.MaxValue);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var refused = Assert.Throws<InvalidDataException>(() => MachineSnapshot.Restore(new Machine(MemoryMap.DefaultRamSize), snapshot));
        Assert.Contains("queued packet", refused.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64 << 20);
    }

    private static int FindPacketLength(byte[] snapshot, uint peer, int length)
    {
        for (int i = 0; i + 8 <= snapshot.Length; i++)
            if (BinaryPrimitives.ReadUInt32LittleEndian(snapshot.AsSpan(i)) == peer && BinaryPrimitives.ReadInt32LittleEndian(snapshot.AsSpan(i + 4)) == length)
                return i + 4;
        throw new InvalidOperationException("queued packet not found in the snapshot");
    }

    [Fact]
    public void Spoiled_elf_images_are_loaded_or_refused_with_an_image_error()
    {
        byte[][] images = [Repo.GuestImage("hello"), Repo.GuestImage("kv"), MiniElf.Build(new byte[] { 0x73, 0, 0, 0 })];
        var machine = new Machine(MemoryMap.DefaultRamSize);
        // Parsed mostly (the checks are all there), loaded into RAM one case in eight (which is slower).
        int loaded = 0;
        var outcome = FuzzRun.Run("ElfLoader", FuzzRun.Cases(3000), random => Mutator.Mutate(images[random.Next(images.Length)], random), bytes =>
        {
            if (loaded++ % 8 == 0) ElfLoader.Load(machine, bytes);
            else ElfLoader.Parse(bytes, machine.RamSize, out _);
        }, [typeof(ImageException)], length => 4L * length + MemoryMap.DefaultRamSize);
        Assert.True(outcome.Accepted > 0 && outcome.Refused > 0, Describe(outcome));
    }

    [Fact]
    public void Spoiled_net_input_files_are_read_or_refused_with_a_net_input_error()
    {
        byte[] valid = Encoding.UTF8.GetBytes("1 PUT a 5\n2 GET a\r\n\n3 INCR n\n");
        var outcome = FuzzRun.Run("NetInputFile.Parse", FuzzRun.Cases(3000), random =>
        {
            byte[] spoiled = Mutator.Mutate(valid, random);
            // Now and then a line longer than a packet, which must be refused, not handed to the device.
            return random.Next(10) != 0 ? spoiled : [.. spoiled, .. new byte[NetInputFile.MaxLine + 1 - random.Next(2)]];
        }, bytes => NetInputFile.Parse(bytes, "fuzzed", 1, new Random(1)), [typeof(NetInputException)], length => 64L * length + 4096);
        Assert.True(outcome.Accepted > 0 && outcome.Refused > 0, Describe(outcome));
    }

    private static string Describe(FuzzRun.Outcome outcome) =>
        $"endings: {string.Join(", ", outcome.Endings.Select(e => $"{e.Key} {e.Value}"))}; most allocated {outcome.MostAllocated} bytes";
}
