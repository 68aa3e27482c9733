using Lockstep.Actors.Executors;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>The journal's rebuild from intact chains, and from chains with parts missing or refused by their checks (see <see cref="JournalSpecBase"/>).</summary>
public sealed class JournalRebuildSpecs : JournalSpecBase
{
    [Fact]
    public void The_rebuild_from_the_newest_full_checkpoint_its_increments_and_the_batches_is_the_machine_of_a_replay_from_boot()
    {
        var kv = WriteTwoChains();
        var (hash, position) = kv.Replayed();
        // Everything before the full checkpoint before the newest goes (the batch before it); its chain stays, in case the newest is corrupt.
        AwaitAssert(() =>
        {
            var events = EventsAsync().Result;
            Assert.Equal(4, events.OfType<VmLogJournal.Increment>().Count());
            Assert.Equal(kv.Segments[1].FirstEntryIndex, events.OfType<VmLogJournal.LogBatch>().Min(b => b.FirstEntry));
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
        Assert.Equal(kv.Segments[^1].EndEntryIndex, launch.FirstEntryIndex);
    }

    [Fact]
    public void The_increments_carry_the_state_the_batches_between_them_would_have_replayed()
    {
        // Segments 7 to 10 lie between the second full checkpoint and its last increment: without them only
        // the increments can bring the machine from the one to the other.
        var kv = WriteTwoChains(sendSegment: segment => segment is < 7 or > 10);
        var (hash, position) = kv.Replayed();
        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
    }

    [Fact]
    public void A_corrupt_increment_makes_the_rebuild_replay_from_the_checkpoint_before_it_to_the_same_machine()
    {
        var kv = WriteTwoChains((index, checkpoint) => index == 4 && checkpoint is VmLogJournal.Increment increment
            ? increment with { Snapshot = Flipped(increment.Snapshot) }
            : checkpoint);
        var (hash, position) = kv.Replayed();
        AwaitAssert(() => Assert.Equal(4, EventsAsync().Result.OfType<VmLogJournal.Increment>().Count()),
            TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));

        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
    }

    [Fact]
    public void Increments_after_a_full_checkpoint_that_was_never_saved_are_not_applied_on_top_of_an_older_one()
    {
        // The second full checkpoint is lost on its way: its increments arrive, the first chain's batches stay.
        var kv = WriteTwoChains((index, checkpoint) => index == 3 ? null : checkpoint);
        var (hash, position) = kv.Replayed();
        var launch = Rebuild();
        Assert.NotNull(launch);
        Assert.Equal(position, launch.Machine.Position);
        Assert.Equal(hash, StateHash.Compute(launch.Machine));
    }
}
