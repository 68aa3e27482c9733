using System.Diagnostics;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

public class CheckpointPhaseTests
{
    [Fact]
    public void A_thousand_vms_spread_their_checkpoints_over_the_interval()
    {
        var buckets = new int[10];
        for (int i = 0; i < 1000; i++) buckets[(int)(CheckpointPhase.Fraction($"vm-{i}") * buckets.Length)]++;
        // Uniform would be 100 each; a hash that left similar names together would pile them into one or two.
        Assert.All(buckets, count => Assert.InRange(count, 60, 140));
    }

    [Fact]
    public void A_vms_phase_depends_on_its_name_only_and_stays_within_the_interval()
    {
        var interval = TimeSpan.FromSeconds(30);
        long ticks = CheckpointPhase.TicksBefore("kv-7", interval);
        Assert.Equal(ticks, CheckpointPhase.TicksBefore("kv-7", interval));
        Assert.NotEqual(ticks, CheckpointPhase.TicksBefore("kv-8", interval));
        Assert.InRange(ticks, 1, (long)(interval.TotalSeconds * Stopwatch.Frequency));
        Assert.Equal(0, CheckpointPhase.TicksBefore("kv-7", TimeSpan.Zero));
        Assert.Equal(0, CheckpointPhase.TicksBefore("kv-7", TimeSpan.MaxValue));
    }
}
