using Lockstep.Replication.FrontDoor;

namespace Lockstep.Replication.Tests;

/// <summary>A front-door datagram is late once its client sent more requests after it than the guest remembers ids for.</summary>
public sealed class LateDatagramsTests
{
    private const uint Peer = 0x8000_0001, Other = 0x8000_0002;

    [Fact]
    public void A_copy_older_than_the_window_of_newer_requests_is_dropped_and_one_within_it_is_not()
    {
        var filter = new LateDatagrams();
        for (long t = 100; t < 100 + LateDatagrams.Window - 1; t++) Assert.True(filter.Admit(Peer, t));
        Assert.True(filter.Admit(Peer, 99)); // 63 newer requests: the guest still knows its id
        Assert.True(filter.Admit(Peer, 100 + LateDatagrams.Window - 1));
        Assert.False(filter.Admit(Peer, 99)); // 64 newer now: the guest's last 64 ids are theirs
        Assert.True(filter.Admit(Peer, 100)); // 63 newer than this one
        Assert.Equal(1, filter.Dropped);
    }

    [Fact]
    public void A_copy_late_by_less_than_the_window_is_admitted_and_other_peers_or_unknown_moments_are_apart()
    {
        var filter = new LateDatagrams();
        for (long t = 1_000; t < 1_000 + LateDatagrams.Window; t++)
        {
            Assert.True(filter.Admit(Peer, t));
            Assert.True(filter.Admit(Peer, t - 10)); // a copy through another door, some requests late: the guest de-duplicates it
        }
        Assert.True(filter.Admit(Other, 1)); // another client: a window of its own
        Assert.True(filter.Admit(Peer, 0)); // no moment (a `vm send` packet, a door of an older version): admitted
        Assert.False(filter.Admit(Peer, 999));
        Assert.Equal(1, filter.Dropped);
    }
}
