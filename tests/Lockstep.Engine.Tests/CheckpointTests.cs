using System.Buffers.Binary;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

/// <summary>The journal's incremental checkpoints: the chain, its encoding, and what is refused.</summary>
public class CheckpointTests
{
    private static (Machine Machine, LiveInputs Inputs) SleepingKv()
    {
        var inputs = new LiveInputs();
        var machine = Repo.LoadGuest("kv", inputs);
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
        return (machine, inputs);
    }

    private static void Serve(Machine machine, LiveInputs inputs, params string[] requests)
    {
        foreach (string request in requests) inputs.Deliver(6, Encoding.ASCII.GetBytes(request));
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(machine));
    }

    /// <summary>A kv machine taken through a full checkpoint and increments with requests between them; the hash after each.</summary>
    private static (List<CheckpointImage> Images, List<ulong> Hashes) Chain(int increments, CheckpointChain? chain = null)
    {
        var (machine, inputs) = SleepingKv();
        Serve(machine, inputs, Enumerable.Range(0, 200).Select(i => $"f{i} PUT filled{i} {new string('f', 1000)}").ToArray());
        chain ??= OnlyIncrements();
        var images = new List<CheckpointImage> { chain.Capture(machine) };
        var hashes = new List<ulong> { StateHash.Compute(machine) };
        for (int i = 1; i <= increments; i++)
        {
            Serve(machine, inputs, $"{i} PUT key{i} {new string((char)('a' + i), 900)}", $"x{i} INCR counter");
            images.Add(chain.Capture(machine));
            hashes.Add(StateHash.Compute(machine));
        }
        return (images, hashes);
    }

    /// <summary>A chain that takes no full checkpoint after its first one.</summary>
    private static CheckpointChain OnlyIncrements() => new(fullEvery: int.MaxValue, fullFraction: double.PositiveInfinity);

    private static Machine Restored(IReadOnlyList<CheckpointImage> images, out int applied, List<(int Index, string Why)>? refused = null)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        applied = CheckpointChain.Restore(machine, images[0].Bytes, images.Skip(1).Select(i => i.Bytes).ToList(),
            (index, why) => refused?.Add((index, why)));
        return machine;
    }

    [Fact]
    public void A_full_checkpoint_and_its_increments_restore_the_same_state_as_the_machine_had()
    {
        var (images, hashes) = Chain(5);
        Assert.True(images[0].IsFull);
        Assert.All(images.Skip(1), image => Assert.False(image.IsFull));
        for (int upTo = 1; upTo <= images.Count; upTo++)
        {
            var machine = Restored(images.Take(upTo).ToList(), out int applied);
            Assert.Equal(upTo - 1, applied);
            Assert.Equal(hashes[upTo - 1], StateHash.Compute(machine));
        }
        // An increment holds the pages of one interval, not the store.
        Assert.All(images.Skip(1), image => Assert.True(image.Bytes.Length < images[0].Bytes.Length / 2,
            $"an increment of {image.Bytes.Length} bytes next to a full checkpoint of {images[0].Bytes.Length}"));
    }

    [Fact]
    public void A_restored_chain_runs_on_exactly_as_the_original()
    {
        var (original, inputs) = SleepingKv();
        var chain = new CheckpointChain();
        var images = new List<CheckpointImage> { chain.Capture(original) };
        for (int i = 0; i < 3; i++)
        {
            Serve(original, inputs, $"{i} INCR k");
            images.Add(chain.Capture(original));
        }
        var copyInputs = new LiveInputs();
        var copy = Restored(images, out _);
        copy.Inputs = copyInputs;
        string[] more = ["a GET k", "b INCR k"];
        var fromOriginal = new List<MachineOutput>();
        var fromCopy = new List<MachineOutput>();
        foreach (string request in more)
        {
            inputs.Deliver(6, Encoding.ASCII.GetBytes(request));
            copyInputs.Deliver(6, Encoding.ASCII.GetBytes(request));
        }
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(original, fromOriginal));
        Assert.Equal(StopReason.Waiting, Run.UntilStopped(copy, fromCopy));
        Assert.Equal([(6u, "a VALUE 3"), (6u, "b 4")], Run.Packets(fromCopy));
        Assert.Equal(StateHash.Compute(original), StateHash.Compute(copy));
    }

    [Fact]
    public void A_page_written_back_to_zero_goes_into_the_increment()
    {
        var machine = new Prog { Wfi() }.Load();
        Assert.True(machine.TryWriteRam(Prog.Base + 0x6000, [7, 7, 7]));
        var chain = new CheckpointChain();
        var full = chain.Capture(machine);
        Assert.True(machine.TryWriteRam(Prog.Base + 0x6000, [0, 0, 0]));
        var increment = chain.Capture(machine);
        Assert.Equal(1, increment.Pages);

        var copy = new Machine(Prog.SmallRam);
        Assert.Equal(1, CheckpointChain.Restore(copy, full.Bytes, [increment.Bytes]));
        Assert.Equal(StateHash.Compute(machine), StateHash.Compute(copy));
    }

    [Fact]
    public void The_chain_takes_a_full_checkpoint_every_so_often_when_asked_and_when_increments_grow_large()
    {
        var (machine, inputs) = SleepingKv();
        var chain = new CheckpointChain(fullEvery: 3);
        bool[] kinds = Enumerable.Range(0, 7).Select(_ => chain.Capture(machine).IsFull).ToArray();
        Assert.Equal([true, false, false, true, false, false, true], kinds);

        chain.RequireFull();
        Assert.True(chain.Capture(machine).IsFull);
        Assert.False(chain.Capture(machine).IsFull);

        // Fills many pages of the store: more than half the full checkpoint's pages at once.
        var small = new CheckpointChain(fullFraction: 0.5);
        var first = small.Capture(machine);
        Serve(machine, inputs, Enumerable.Range(0, 400).Select(i => $"{i} PUT k{i} {new string('v', 1000)}").ToArray());
        var next = small.Capture(machine);
        Assert.True(next.IsFull, $"{next.Pages} pages written after a full checkpoint of {first.Pages}");
    }

    [Fact]
    public void Checkpoint_marks_and_the_live_copys_dirty_marks_do_not_disturb_each_other()
    {
        var machine = new Prog
        {
            Sw(A1, T0, 0),          // page 3
            Sw(A1, T0, 4),          // page 3 again
            Sw(A1, T1, 0),          // page 4
            Wfi(),
        }.Load();
        machine.SetRegister(T0, Prog.Base + 0x3000);
        machine.SetRegister(T1, Prog.Base + 0x4000);
        machine.SetRegister(A1, 0x5A5A_5A5A);
        machine.ClearDirtyPages();
        machine.ClearCheckpointMarks();
        Assert.Equal(StopReason.Budget, machine.Run(1));
        Assert.Equal([3], machine.PagesSinceCheckpoint().ToArray());
        Assert.Equal([3], machine.DirtyPages().ToArray());

        machine.ClearCheckpointMarks(); // a checkpoint was taken: the live copy still needs what it marked
        Assert.Equal([3], machine.DirtyPages().ToArray());
        Assert.Equal(StopReason.Budget, machine.Run(1)); // into a page dirty for the live copy only
        Assert.Equal([3], machine.PagesSinceCheckpoint().ToArray());

        machine.ClearDirtyPages(); // the live copy starts over: the next increment still needs page 3
        Assert.Equal([3], machine.PagesSinceCheckpoint().ToArray());
        Assert.Equal(StopReason.Waiting, machine.Run(100));
        Assert.Equal([3, 4], machine.PagesSinceCheckpoint().ToArray());
        Assert.Equal([4], machine.DirtyPages().ToArray());
    }

    [Fact]
    public void Increments_taken_while_the_live_copy_restarts_its_marks_still_hold_every_page_written()
    {
        // Compiled code takes the fast store path once a page is marked both ways; each side's clearing must send it back to the slow one.
        var (machine, inputs) = SleepingKv();
        var chain = OnlyIncrements();
        var images = new List<CheckpointImage> { chain.Capture(machine) };
        for (int i = 0; i < 6; i++)
        {
            Serve(machine, inputs, Enumerable.Range(0, 30).Select(j => $"{i}-{j} PUT k{j % 7} {new string((char)('a' + i), 200 + j)}").ToArray());
            if (i % 2 == 0) machine.ClearDirtyPages();
            else images.Add(chain.Capture(machine));
        }
        var copy = Restored(images, out int applied);
        Assert.Equal(images.Count - 1, applied);
        Assert.Equal(StateHash.Compute(machine), StateHash.Compute(copy));
    }

    [Fact]
    public void A_corrupt_or_truncated_checkpoint_is_refused_with_a_clear_error()
    {
        var (images, _) = Chain(1);
        byte[] good = images[1].Bytes;
        Assert.Equal(1, CheckpointFormat.ReadHeader(good).Ordinal);

        byte[] flipped = (byte[])good.Clone();
        flipped[flipped.Length / 2] ^= 0x10;
        Assert.Contains("checksum", Assert.Throws<InvalidDataException>(() => CheckpointFormat.ReadHeader(flipped)).Message);
        foreach (int length in new[] { 5, 20, good.Length / 2, good.Length - 1 })
            Assert.Throws<InvalidDataException>(() => CheckpointFormat.ReadHeader(good.AsSpan(0, length)));
        byte[] future = (byte[])good.Clone();
        future[5] = CheckpointFormat.Version + 1;
        Assert.Contains("version", Assert.Throws<InvalidDataException>(() => CheckpointFormat.ReadHeader(future)).Message);
        Assert.Throws<InvalidDataException>(() => CheckpointFormat.ReadHeader(Encoding.ASCII.GetBytes("LLSP not a checkpoint")));
    }

    [Fact]
    public void A_refused_checkpoint_changes_nothing_in_the_machine()
    {
        var (images, hashes) = Chain(2);
        var machine = Restored(images.Take(2).ToList(), out _);
        byte[] corrupt = (byte[])images[2].Bytes.Clone();
        corrupt[^1] ^= 1;
        Assert.Throws<InvalidDataException>(() => CheckpointFormat.Apply(machine, corrupt));
        Assert.Throws<InvalidDataException>(() => CheckpointFormat.Apply(new Machine(2 * MemoryMap.DefaultRamSize), images[0].Bytes));
        Assert.Equal(hashes[1], StateHash.Compute(machine));
    }

    [Fact]
    public void The_restore_stops_at_a_bad_increment_and_stands_at_the_last_good_one()
    {
        var (images, hashes) = Chain(4);
        var corrupt = images.ToList();
        byte[] bad = (byte[])images[3].Bytes.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(bad.AsSpan(bad.Length - 20), 12345);
        corrupt[3] = images[3] with { Bytes = bad };
        var refused = new List<(int, string)>();
        var machine = Restored(corrupt, out int applied, refused);
        Assert.Equal(2, applied);
        Assert.Equal(hashes[2], StateHash.Compute(machine));
        Assert.Equal(2, Assert.Single(refused).Item1);

        var truncated = images.ToList();
        truncated[2] = images[2] with { Bytes = images[2].Bytes[..^100] };
        Assert.Equal(hashes[1], StateHash.Compute(Restored(truncated, out applied)));
        Assert.Equal(1, applied);
    }

    [Fact]
    public void An_increment_of_another_chain_or_after_a_missing_one_is_not_applied()
    {
        var (images, hashes) = Chain(3);
        var (others, _) = Chain(3);
        var refused = new List<(int, string)>();
        var foreign = Restored([images[0], images[1], others[2], images[3]], out int applied, refused);
        Assert.Equal(1, applied);
        Assert.Equal(hashes[1], StateHash.Compute(foreign));

        var gap = Restored([images[0], images[2], images[3]], out applied, refused);
        Assert.Equal(0, applied);
        Assert.Equal(hashes[0], StateHash.Compute(gap));
        Assert.Equal(2, refused.Count);

        var twice = Restored([images[0], images[1], images[1]], out applied);
        Assert.Equal(1, applied);
        Assert.Equal(hashes[1], StateHash.Compute(twice));
    }

    [Fact]
    public void A_chain_must_start_from_a_full_checkpoint_and_a_bad_one_is_an_error()
    {
        var (images, _) = Chain(2);
        Assert.Throws<InvalidDataException>(() => CheckpointChain.Restore(new Machine(), images[1].Bytes, [images[2].Bytes]));
        byte[] corrupt = (byte[])images[0].Bytes.Clone();
        corrupt[100] ^= 0xFF;
        Assert.Throws<InvalidDataException>(() => CheckpointChain.Restore(new Machine(), corrupt, [images[1].Bytes]));
    }

    [Fact]
    public void A_full_snapshot_of_the_older_kind_still_restores_but_starts_no_chain()
    {
        var (machine, _) = SleepingKv();
        byte[] legacy = MachineSnapshot.CaptureFull(machine);
        var chain = new CheckpointChain();
        chain.Capture(machine);
        var increment = chain.Capture(machine);
        var copy = new Machine();
        var refused = new List<int>();
        Assert.Equal(0, CheckpointChain.Restore(copy, legacy, [increment.Bytes], (index, _) => refused.Add(index)));
        Assert.Equal([0], refused);
        Assert.Equal(StateHash.Compute(machine), StateHash.Compute(copy));
    }

    [Fact]
    public void A_journal_checkpoint_also_restores_through_the_snapshot_entry_point()
    {
        var (images, hashes) = Chain(1);
        var machine = new Machine();
        MachineSnapshot.Restore(machine, images[0].Bytes);
        MachineSnapshot.Restore(machine, images[1].Bytes);
        Assert.Equal(hashes[1], StateHash.Compute(machine));
    }
}
