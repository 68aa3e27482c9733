using System.Buffers.Binary;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Running;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Engine.Tests;

/// <summary>The export format (<see cref="ExportFile"/>): round trips, the machine it starts, and every way a damaged one is refused.</summary>
public sealed class ExportFormatTests
{
    private const int RecordHeader = 8;

    /// <summary>
    /// A kv run recorded as a protected primary journals it: a full checkpoint, requests, an increment,
    /// requests, with the log cut at each checkpoint. The export starts at the increment; the hash is
    /// the live machine's at the end.
    /// </summary>
    private static (ExportContents Export, ulong EndHash) Recorded()
    {
        var recorder = new EventRecorder();
        var inputs = new LiveInputs(recorder);
        var machine = Repo.LoadGuest("kv", inputs);
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
        Serve(machine, inputs, "1 PUT a 5", "2 INCR a");
        recorder.Cut(machine.Position);
        var chain = new CheckpointChain(fullEvery: int.MaxValue, fullFraction: double.PositiveInfinity);
        var full = chain.Capture(machine);
        Serve(machine, inputs, "3 PUT b hello", "4 INCR a");
        recorder.Cut(machine.Position);
        long startEntry = recorder.EntryCount;
        ulong start = machine.Position;
        var increment = chain.Capture(machine);
        Assert.False(increment.IsFull);
        var segments = new List<LogSegment>();
        for (int i = 5; i < 12; i++)
        {
            Serve(machine, inputs, $"{i} INCR a", $"x{i} PUT k{i} {new string('v', 100 * i)}");
            segments.Add(recorder.Cut(machine.Position));
        }
        var info = new ExportInfo("kv", new DateTime(2026, 12, 1, 15, 0, 0, DateTimeKind.Utc), startEntry, start, machine.Position,
            new DateTime(2026, 12, 1, 14, 58, 0, DateTimeKind.Utc), new DateTime(2026, 12, 1, 14, 59, 30, DateTimeKind.Utc));
        return (new ExportContents(info, machine.RamSize, Repo.GuestImage("kv"), full.Bytes, [increment.Bytes], segments), StateHash.Compute(machine));
    }

    private static void Serve(Machine machine, LiveInputs inputs, params string[] requests)
    {
        foreach (string request in requests) inputs.Deliver(1, Encoding.ASCII.GetBytes(request));
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
    }

    private static readonly Lazy<(ExportContents Export, ulong EndHash)> Sample = new(Recorded);

    private static byte[] SampleBytes() => ExportFile.Encode(Sample.Value.Export);

    /// <summary>Where each record starts, from the frames' own lengths.</summary>
    private static List<int> RecordOffsets(byte[] bytes)
    {
        var offsets = new List<int>();
        for (int at = ExportFile.HeaderSize; at < bytes.Length; at += RecordHeader + (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)))
            offsets.Add(at);
        return offsets;
    }

    private static string Refusal(byte[] bytes) => Assert.Throws<LogFormatException>(() => ExportFile.Decode(bytes, "x.export")).Message;

    private static byte[] Record(byte kind, byte[] payload)
    {
        var body = new byte[1 + payload.Length];
        body[0] = kind;
        payload.CopyTo(body, 1);
        var frame = new byte[RecordHeader + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)body.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), Crc32.Compute(body));
        body.CopyTo(frame, RecordHeader);
        return frame;
    }

    /// <summary>The sample with its records rearranged by <paramref name="edit"/> (each record's frame, checksums intact).</summary>
    private static byte[] Rearranged(Func<List<byte[]>, IEnumerable<byte[]>> edit)
    {
        var bytes = SampleBytes();
        var offsets = RecordOffsets(bytes);
        var records = offsets.Select((at, i) => bytes[at..(i + 1 < offsets.Count ? offsets[i + 1] : bytes.Length)]).ToList();
        return [.. bytes[..ExportFile.HeaderSize], .. edit(records).SelectMany(r => r)];
    }

    [Fact]
    public void An_export_round_trips()
    {
        var export = Sample.Value.Export;
        var read = ExportFile.Decode(ExportFile.Encode(export), "x.export");
        Assert.Equal(export.Info, read.Info);
        Assert.Equal(export.MemorySize, read.MemorySize);
        Assert.Equal(export.Image, read.Image);
        Assert.Equal(export.Checkpoint, read.Checkpoint);
        Assert.Equal(export.Increments.Count, read.Increments.Count);
        Assert.Equal(export.Increments[0], read.Increments[0]);
        Assert.Equal(export.Segments.Count, read.Segments.Count);
        for (int i = 0; i < export.Segments.Count; i++)
        {
            Assert.Equal(export.Segments[i].FirstEntryIndex, read.Segments[i].FirstEntryIndex);
            Assert.Equal(export.Segments[i].Horizon, read.Segments[i].Horizon);
            Assert.Equal(export.Segments[i].Entries.Select(e => (e.Kind, e.Position, e.Value, e.Peer)), read.Segments[i].Entries.Select(e => (e.Kind, e.Position, e.Value, e.Peer)));
        }
    }

    [Fact]
    public void An_export_replays_from_its_checkpoint_chain_to_the_live_machines_state()
    {
        var (export, endHash) = Sample.Value;
        var read = ExportFile.Decode(ExportFile.Encode(export), "x.export");
        var machine = ExportedMachine.Start(read, out var inputs);
        Assert.Equal(export.Info.StartPosition, machine.Position);
        Assert.Equal(StopReason.NeedLog, Run.UntilStopped(machine));
        Assert.Equal(export.Info.EndPosition, machine.Position);
        Assert.Equal(inputs.ReceivedEntryIndex, inputs.NextEntryIndex);
        Assert.Equal(endHash, StateHash.Compute(machine));
    }

    [Fact]
    public void An_export_from_boot_needs_no_checkpoint()
    {
        var recorder = new EventRecorder();
        var inputs = new LiveInputs(recorder);
        var machine = Repo.LoadGuest("kv", inputs);
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
        Serve(machine, inputs, "1 PUT a 5", "2 INCR a");
        var segment = recorder.Cut(machine.Position);
        var info = new ExportInfo("kv", DateTime.UtcNow, 0, 0, machine.Position, null, DateTime.UtcNow);
        var export = ExportFile.Decode(ExportFile.Encode(new ExportContents(info, machine.RamSize, Repo.GuestImage("kv"), null, [], [segment])), "boot.export");
        Assert.Null(export.Checkpoint);
        Assert.Null(export.Info.StartTime);
        var replay = ExportedMachine.Start(export, out _);
        Assert.Equal(StopReason.NeedLog, Run.UntilStopped(replay));
        Assert.Equal(StateHash.Compute(machine), StateHash.Compute(replay));
    }

    [Fact]
    public void Every_flipped_byte_of_every_record_names_that_record()
    {
        var bytes = SampleBytes();
        var offsets = RecordOffsets(bytes);
        Assert.Equal(2 + 1 + 1 + Sample.Value.Export.Segments.Count + 1, offsets.Count);
        var random = new Random(16);
        for (int i = 0; i < offsets.Count; i++)
        {
            int end = i + 1 < offsets.Count ? offsets[i + 1] : bytes.Length;
            foreach (int at in new[] { offsets[i] + 4, offsets[i] + RecordHeader, random.Next(offsets[i] + RecordHeader, end), end - 1 })
            {
                var damaged = (byte[])bytes.Clone();
                damaged[at] ^= 0x20;
                string message = Refusal(damaged);
                Assert.Contains("corrupt", message);
                Assert.Contains($"record {i}, byte offset {offsets[i]}", message.Replace($"record {i} (byte offset {offsets[i]}", $"record {i}, byte offset {offsets[i]}"));
                Assert.Contains("checksum", message);
            }
        }
    }

    [Fact]
    public void A_flipped_header_byte_is_refused_by_the_header_checksum()
    {
        for (int at = 8; at < ExportFile.HeaderSize; at++)
        {
            var damaged = SampleBytes();
            damaged[at] ^= 1;
            Assert.Contains("header", Refusal(damaged));
        }
    }

    [Fact]
    public void An_export_cut_at_any_record_boundary_or_inside_a_record_is_truncated_and_the_place_named()
    {
        var bytes = SampleBytes();
        var offsets = RecordOffsets(bytes);
        for (int i = 0; i < offsets.Count; i++)
        {
            string atBoundary = Refusal(bytes[..offsets[i]]);
            Assert.Contains("truncated", atBoundary);
            Assert.Contains($"record {i}", atBoundary);
            Assert.Contains("end record is missing", atBoundary);
            string inHeader = Refusal(bytes[..(offsets[i] + 3)]);
            Assert.Contains($"record {i}", inHeader);
            Assert.Contains("cut short in its header", inHeader);
            string inBody = Refusal(bytes[..(offsets[i] + RecordHeader + 1)]);
            Assert.Contains($"record {i}", inBody);
            Assert.Contains("only 1 present", inBody);
        }
        Assert.Contains("ends inside its header", Refusal(bytes[..10]));
    }

    [Fact]
    public void Records_out_of_place_are_named()
    {
        // A segment before the checkpoint: the log would start where no checkpoint stands.
        string early = Refusal(Rearranged(r => [r[0], r[1], r[4], r[2], r[3], .. r.Skip(5)]));
        Assert.Contains("record 2", early);
        Assert.Contains("the checkpoints end at instruction 0", early);
        // The increment before its full checkpoint.
        string swapped = Refusal(Rearranged(r => [r[0], r[1], r[3], r[2], .. r.Skip(4)]));
        Assert.Contains("record 2", swapped);
        Assert.Contains("cannot come here", swapped);
        // A segment missing in the middle: the next one does not follow.
        string gap = Refusal(Rearranged(r => r.Where((_, i) => i != 5)));
        Assert.Contains("log segment 1", gap);
        Assert.Contains("does not follow", gap);
        // No info first.
        Assert.Contains("expected Info", Refusal(Rearranged(r => r.Skip(1))));
        // The end record alone is gone: the counts are missing.
        Assert.Contains("end record is missing", Refusal(Rearranged(r => r.Take(r.Count - 1))));
        // Stray bytes after the end.
        Assert.Contains("stray bytes after the end record", Refusal([.. SampleBytes(), 0]));
        // A record of a kind this build does not know, with a valid checksum.
        string unknown = Refusal(Rearranged(r => [.. r.Take(r.Count - 1), Record(99, [1, 2, 3]), r[^1]]));
        Assert.Contains("unknown kind 99", unknown);
        Assert.Contains($"record {Sample.Value.Export.Segments.Count + 4}", unknown);
    }

    [Fact]
    public void An_end_record_that_counts_otherwise_is_refused()
    {
        var end = new byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(end, 1);
        BinaryPrimitives.WriteInt32LittleEndian(end.AsSpan(4), 3);
        BinaryPrimitives.WriteInt32LittleEndian(end.AsSpan(8), 1);
        string message = Refusal(Rearranged(r => [.. r.Take(r.Count - 1), Record(6, end)]));
        Assert.Contains("the end record", message);
        Assert.Contains("counts 1 checkpoint, 1 increments and 3 segments", message);
    }

    [Fact]
    public void An_increment_of_another_chain_is_refused_by_name()
    {
        var export = Sample.Value.Export;
        var other = Recorded().Export; // another full checkpoint: its increment names another chain
        var mixed = export with { Increments = other.Increments };
        string message = Refusal(ExportFile.Encode(mixed));
        Assert.Contains("increment 0", message);
        Assert.Contains("does not follow the checkpoint before it", message);
    }

    [Fact]
    public void An_image_that_is_not_the_one_in_the_header_is_refused()
    {
        var image = Repo.GuestImage("kv");
        image[^1] ^= 1;
        string message = Refusal(Rearranged(r => [r[0], Record(2, image), .. r.Skip(2)]));
        Assert.Contains("the image record", message);
        Assert.Contains("does not match the image hash", message);
    }

    [Fact]
    public void Other_files_and_versions_are_refused()
    {
        Assert.Contains("not a Lockstep export", Refusal(Encoding.ASCII.GetBytes("LOCKSTEP and then some bytes of a log")));
        var bytes = SampleBytes();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), 9);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(ExportFile.HeaderSize - 4), Crc32.Compute(bytes.AsSpan(0, ExportFile.HeaderSize - 4)));
        Assert.Contains("export format version 9", Refusal(bytes));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), ExportFile.Version);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(10), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(ExportFile.HeaderSize - 4), Crc32.Compute(bytes.AsSpan(0, ExportFile.HeaderSize - 4)));
        Assert.Contains("log format version 1", Refusal(bytes));
    }

    [Fact]
    public void Info_that_does_not_match_the_checkpoints_or_the_log_is_refused()
    {
        var export = Sample.Value.Export;
        Assert.Contains("the info record says the export starts at", Refusal(ExportFile.Encode(export with { Info = export.Info with { StartPosition = export.Info.StartPosition + 1 } })));
        Assert.Contains("the info record says", Refusal(ExportFile.Encode(export with { Info = export.Info with { EndPosition = export.Info.EndPosition + 1 } })));
        Assert.Contains("log segment 0", Refusal(ExportFile.Encode(export with { Info = export.Info with { FirstEntryIndex = export.Info.FirstEntryIndex + 1 } })));
    }
}
