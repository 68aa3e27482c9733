using System.Diagnostics;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Tests;

/// <summary>A link's silence counted in the node's own running time: its timer's stalls are taken off, its jitter is not.</summary>
public sealed class OwnStallsTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    private static long At(double ms) => (long)(ms / 1000 * Stopwatch.Frequency);

    [Fact]
    public void A_stall_of_the_whole_node_is_not_counted_as_the_peers_silence()
    {
        var stalls = new OwnStalls(Interval, At(0));
        long heard = stalls.Total; // the peer was heard at 0
        stalls.Turn(At(50));
        stalls.Turn(At(2100)); // held up for two seconds
        var counted = stalls.Discounted(TimeSpan.FromMilliseconds(2100), heard);
        Assert.InRange(counted.TotalMilliseconds, 149.9, 150.1); // 2100 less the 1950 beyond two intervals after the turn before
    }

    [Fact]
    public void Ordinary_jitter_takes_nothing_off_so_a_gone_peer_is_found_on_time()
    {
        var stalls = new OwnStalls(Interval, At(0));
        long heard = stalls.Total;
        double now = 0;
        for (int i = 0; i < 20; i++) stalls.Turn(At(now += 95)); // every turn almost an interval late
        Assert.Equal(0, stalls.Total);
        Assert.Equal(TimeSpan.FromMilliseconds(now), stalls.Discounted(TimeSpan.FromMilliseconds(now), heard));
    }

    [Fact]
    public void A_node_late_again_and_again_finds_a_gone_peer_later_by_as_much_and_still_finds_it()
    {
        var stalls = new OwnStalls(Interval, At(0));
        long heard = stalls.Total;
        double now = 0;
        var timeout = TimeSpan.FromMilliseconds(750);
        // Turns 400 ms apart: 300 ms of each is stalled, 100 ms counted.
        while (stalls.Discounted(TimeSpan.FromMilliseconds(now), heard) <= timeout) stalls.Turn(At(now += 400));
        Assert.InRange(now, 2800, 3200);
    }

    [Fact]
    public void Stalls_before_the_peer_was_last_heard_are_not_taken_off_again()
    {
        var stalls = new OwnStalls(Interval, At(0));
        stalls.Turn(At(1100)); // a stall of 1000 ms, then the peer is heard
        long heard = stalls.Total;
        stalls.Turn(At(1150));
        stalls.Turn(At(1200));
        Assert.Equal(TimeSpan.FromMilliseconds(900), stalls.Discounted(TimeSpan.FromMilliseconds(900), heard));
    }
}
