using Lockstep.Actors.Executors;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// A journal whose bytes went bad on disk (a byte flipped in the SQLite file itself, where the row holds it) or
/// were stored cut short: the rebuild names what it refused and builds the machine of the newest consistent
/// point, which is the machine a replay from boot of the log up to there gives (see <see cref="JournalSpecBase"/>).
/// </summary>
public sealed class JournalCorruptionSpecs : JournalSpecBase
{
    /// <summary>
    /// Flips the byte at <paramref name="at"/> of <paramref name="stored"/> where the journal's files hold it, so that the row
    /// SQLite reads back has it flipped. The bytes are found in the files by a window of <paramref name="length"/> bytes
    /// around it (shorter ones after), which must occur once in what SQLite reads: a window can fall across two pages of a
    /// row, and then the copy the files hold whole is a stale one (an old page in the write-ahead log or a freed page), so
    /// every window is checked by reading the rows back, and the next one is tried until the live row has changed. Then the
    /// connections still open are made to read the file again, or one that cached the page before would read the old bytes.
    /// </summary>
    private void CorruptOnDisk(byte[] stored, int at, int length = 64)
    {
        Assert.InRange(at, 0, Math.Min(length, stored.Length) - 1);
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10); ; Thread.Sleep(200))
        {
            // A write may still be under way (the deletion of an old checkpoint): the next turn finds the files still.
            CheckpointWal();
            var live = LiveBlobs(); // once a turn and after each flip; a write still under way shows in the next turn
            for (int size = Math.Min(length, stored.Length); size >= Math.Min(16, stored.Length); size /= 2)
                for (int start = Math.Max(0, at - size + 1); start <= Math.Min(at, stored.Length - size); start++)
                {
                    var window = stored.AsSpan(start, size).ToArray();
                    if (Occurrences(live, window) != 1) continue;
                    FlipInFiles(window, at - start);
                    live = LiveBlobs();
                    if (Occurrences(live, window) > 0) continue;
                    MakeOpenConnectionsRereadTheFile();
                    return;
                }
            Assert.True(DateTime.UtcNow < deadline, "the stored bytes were not found whole in the journal's files");
        }
    }

    private void FlipInFiles(byte[] window, int at)
    {
        foreach (string file in DatabaseFiles.ToList())
        {
            byte[] bytes = File.ReadAllBytes(file);
            bool flipped = false;
            for (int from = 0, found; (found = bytes.AsSpan(from).IndexOf(window)) >= 0; from += found + window.Length)
            {
                bytes[from + found + at] ^= 0x40;
                flipped = true;
            }
            if (flipped) File.WriteAllBytes(file, bytes);
        }
    }

    /// <summary>How often <paramref name="window"/> occurs in <paramref name="blobs"/> (the tables' blobs as SQLite read them).</summary>
    private static int Occurrences(List<byte[]> blobs, byte[] window)
    {
        int occurrences = 0;
        foreach (var blob in blobs)
            for (int from = 0, found; (found = blob.AsSpan(from).IndexOf(window)) >= 0; from += found + 1) occurrences++;
        return occurrences;
    }

    /// <summary>Rebuilds, expecting one error that names what was refused, and the machine of <paramref name="expected"/>.</summary>
    private PrimaryLaunch RebuiltNaming(string refused, (ulong Hash, ulong Position) expected)
    {
        PrimaryLaunch? launch = null;
        EventFilter.Error(contains: refused).Expect(1, TimeSpan.FromSeconds(10), () => launch = Rebuild());
        Assert.NotNull(launch);
        Assert.Equal(expected.Position, launch.Machine.Position);
        Assert.Equal(expected.Hash, StateHash.Compute(launch.Machine));
        return launch;
    }

    /// <summary>Writes <paramref name="chains"/> chains and keeps the full checkpoint sent as checkpoint number <paramref name="index"/>.</summary>
    private (RecordedKv Kv, VmLogJournal.Checkpoint Full) WriteKeeping(int chains, int index)
    {
        VmLogJournal.Checkpoint? kept = null;
        var kv = WriteChains(chains, (i, checkpoint) =>
        {
            if (i == index) kept = (VmLogJournal.Checkpoint)checkpoint;
            return checkpoint;
        });
        return (kv, kept!);
    }

    [Fact]
    public void A_full_checkpoint_corrupted_on_disk_is_named_and_the_rebuild_starts_from_the_one_before_to_the_same_machine()
    {
        var (kv, newest) = WriteKeeping(2, 3);
        var expected = kv.Replayed();
        StopJournal();
        CorruptOnDisk(newest.Snapshot, 50); // in the core state, behind the header: only the checksum can tell
        var launch = RebuiltNaming("full checkpoint", expected);
        Assert.Equal(kv.Segments[^1].EndEntryIndex, launch.FirstEntryIndex);
    }

    [Fact]
    public void A_full_checkpoint_stored_cut_short_is_passed_over_for_the_one_before()
    {
        var kv = WriteTwoChains((index, checkpoint) => index == 3 && checkpoint is VmLogJournal.Checkpoint full
            ? full with { Snapshot = full.Snapshot[..(full.Snapshot.Length / 3)] }
            : checkpoint);
        RebuiltNaming("full checkpoint", kv.Replayed());
    }

    [Fact]
    public void A_batch_corrupted_on_disk_is_named_and_the_rebuild_stops_at_the_newest_consistent_point_before_it()
    {
        // Segment 11 follows the newest chain's last increment (taken after segment 10): only the log brings the machine past it.
        var kv = WriteTwoChains();
        var spoiled = new VmLogJournal.LogBatch(kv.Segments[11].FirstEntryIndex, kv.Segments[11].EndEntryIndex, kv.Segments[11].Horizon,
            LogCodec.Encode(kv.Segments[11]));
        var expected = kv.Replayed(11);
        StopJournal();
        CorruptOnDisk(spoiled.Segments, 20); // in the segment's body: its checksum tells
        var launch = RebuiltNaming("journal batch", expected);
        Assert.Equal(kv.Segments[11].FirstEntryIndex, launch.FirstEntryIndex);
    }

    [Fact]
    public void A_full_checkpoint_row_that_no_longer_deserialises_is_named_by_its_sequence_number_and_the_rebuild_starts_from_the_one_before()
    {
        var (kv, newest) = WriteKeeping(2, 3);
        var expected = kv.Replayed();
        StopJournal();
        // The row as the snapshot store wrote it: the serializer's bytes, which begin with the type's name. Found by its first
        // 200 bytes (into the checkpoint's own header, so the older full checkpoint's row does not match), spoiled in the name.
        byte[] row = Sys.Serialization.FindSerializerFor(newest).ToBinary(newest);
        CorruptOnDisk(row, 12, length: 200);
        var launch = RebuiltNaming("cannot be read", expected);
        Assert.Equal(kv.Segments[^1].EndEntryIndex, launch.FirstEntryIndex);
    }

    [Fact]
    public void A_sole_full_checkpoint_row_that_no_longer_deserialises_is_passed_over_for_the_log_from_boot()
    {
        var (kv, full) = WriteKeeping(1, 0);
        var expected = kv.Replayed();
        StopJournal();
        CorruptOnDisk(Sys.Serialization.FindSerializerFor(full).ToBinary(full), 12, length: 200);
        var launch = RebuiltNaming("cannot be read", expected);
        Assert.Equal(kv.Segments[^1].EndEntryIndex, launch.FirstEntryIndex);
    }

    [Fact]
    public void A_batch_that_passes_its_checks_but_whose_replay_diverges_is_named_and_the_rebuild_starts_at_the_segment_before_it()
    {
        // Segment 11 follows the newest chain's last increment; its first input becomes a clock read at the same instruction,
        // sealed properly: it decodes, but the machine never makes that read there.
        var kv = WriteChains(2, sendInstead: (index, batch) =>
        {
            if (index != 11) return batch;
            var segment = LogCodec.Decode(batch.Segments, "the batch as cut");
            var entries = segment.Entries.ToArray();
            entries[0] = new LogEntry(EntryKind.Rtc, entries[0].Position, 12345);
            return batch with { Segments = LogCodec.Encode(segment with { Entries = entries }) };
        });
        var launch = RebuiltNaming("replay diverges", kv.Replayed(11));
        Assert.Equal(kv.Segments[11].FirstEntryIndex, launch.FirstEntryIndex);
    }

    [Fact]
    public void A_sole_full_checkpoint_corrupted_on_disk_is_passed_over_for_the_log_from_boot_and_its_increments_are_not_applied()
    {
        var (kv, full) = WriteKeeping(1, 0);
        var expected = kv.Replayed();
        StopJournal();
        CorruptOnDisk(full.Snapshot, 50);
        RebuiltNaming("full checkpoint", expected);
    }

    [Fact]
    public void With_the_two_kept_full_checkpoints_corrupt_and_the_log_before_them_gone_the_rebuild_is_an_error_not_a_machine()
    {
        var kv = WriteChains(3, (index, checkpoint) => index is 3 or 6 && checkpoint is VmLogJournal.Checkpoint full
            ? full with { Snapshot = Flipped(full.Snapshot) }
            : checkpoint);
        // Saving the third full checkpoint let go of the first chain and the log from boot.
        AwaitAssert(() => Assert.True(EventsAsync().Result.OfType<VmLogJournal.LogBatch>().Min(b => b.FirstEntry) > 0),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
        Assert.True(kv.Segments.Count > 0);

        PrimaryLaunch? launch = null;
        // Both full checkpoints named, then the rebuild refused.
        EventFilter.Error().Expect(3, () => launch = Rebuild());
        Assert.Null(launch);
    }
}
