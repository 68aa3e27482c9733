using Lockstep.Actors.Executors;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// Group commit in the journal's actor: batches that arrive while a write is under way go in the next write as one
/// event, the commits are acknowledged in order and each covers every entry before it, and what was written rebuilds
/// to the machine a replay from boot gives.
/// </summary>
public sealed class JournalGroupCommitSpecs : JournalSpecBase
{
    private List<VmLogJournal.Committed> CommitsUpTo(long entry)
    {
        var commits = new List<VmLogJournal.Committed>();
        while (commits.Count == 0 || commits[^1].Entries < entry)
        {
            var committed = Primary.ExpectMsg<VmLogJournal.Committed>(TimeSpan.FromSeconds(20));
            if (!committed.Checkpoint) commits.Add(committed);
        }
        return commits;
    }

    [Fact]
    public async Task Batches_sent_while_a_write_is_under_way_are_committed_together_in_order_and_rebuild_to_the_same_machine()
    {
        var kv = new RecordedKv();
        var batches = Enumerable.Range(0, 40).Select(_ => kv.Serve(2)).ToList();
        foreach (var batch in batches) Journal.Tell(batch, Primary.Ref);
        var commits = CommitsUpTo(batches[^1].EndEntry);

        Assert.True(commits.Count < batches.Count, $"{batches.Count} batches sent at once took {commits.Count} commits: none were joined");
        Assert.Equal(batches.Count, commits.Sum(c => c.Parts));
        Assert.Equal(commits.Select(c => c.Entries).OrderBy(e => e), commits.Select(c => c.Entries));
        Assert.All(commits, c => Assert.Contains(batches, b => b.EndEntry == c.Entries)); // each ends where a batch ends
        var rows = (await EventsAsync()).OfType<VmLogJournal.LogBatch>().ToList();
        Assert.Equal(commits.Count, rows.Count);
        Assert.Equal(batches[0].FirstEntry, rows[0].FirstEntry);
        Assert.All(rows.Zip(rows.Skip(1)), pair => Assert.Equal(pair.Item1.EndEntry, pair.Item2.FirstEntry));

        StopJournal();
        var launch = Rebuild();
        Assert.NotNull(launch);
        var expected = kv.Replayed();
        Assert.Equal(expected.Position, launch.Machine.Position);
        Assert.Equal(expected.Hash, Lockstep.Engine.Snapshots.StateHash.Compute(launch.Machine));
    }

    [Fact]
    public async Task A_batch_that_does_not_continue_the_waiting_one_is_not_joined_to_it_and_both_are_written_in_order()
    {
        var kv = new RecordedKv();
        var first = kv.Serve(2);
        var skipped = kv.Serve(2); // never sent: the next one does not continue what waits
        var second = kv.Serve(2);
        var third = kv.Serve(2);
        Assert.NotEqual(first.EndEntry, second.FirstEntry);
        foreach (var batch in new[] { first, second, third }) Journal.Tell(batch, Primary.Ref);
        var commits = CommitsUpTo(third.EndEntry);

        Assert.Equal(commits.Select(c => c.Entries).OrderBy(e => e), commits.Select(c => c.Entries));
        var rows = (await EventsAsync()).OfType<VmLogJournal.LogBatch>().ToList();
        Assert.Contains(rows, r => r.FirstEntry == first.FirstEntry && r.EndEntry == first.EndEntry);
        Assert.DoesNotContain(rows, r => r.FirstEntry <= skipped.FirstEntry && skipped.FirstEntry < r.EndEntry);
        Assert.Equal(third.EndEntry, rows[^1].EndEntry);
    }
}
