using Akka.Actor;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Tests;

/// <summary>Placement's counting without a cluster: the candidates are given, the reports recorded by hand.</summary>
public sealed class NodeLoadTests
{
    private static readonly Address A = Node(1), B = Node(2), C = Node(3);
    private static readonly DateTime T0 = new(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc);

    private static Address Node(int i) => new("akka.tcp", "lockstep", $"127.0.0.{i}", 4000);

    [Fact]
    public void Picks_for_one_primary_node_alternate_over_the_others()
    {
        var load = new NodeLoad();
        var picked = Enumerable.Range(0, 6).Select(i => load.Pick([B, C], PlacementRole.Secondary, $"v{i}", A, T0)!).ToList();
        Assert.Equal(3, picked.Count(n => n == B));
        Assert.Equal(3, picked.Count(n => n == C));
    }

    [Fact]
    public void A_VM_picked_for_again_while_reserved_gets_the_same_node_and_is_counted_once()
    {
        var load = new NodeLoad();
        var first = load.Pick([B, C], PlacementRole.Secondary, "v", A, T0)!;
        // Its coordinator and its primary both place it (after a takeover): the second pick must not count it twice.
        var again = load.Pick([B, C], PlacementRole.Secondary, "v", A, T0.AddSeconds(1));
        Assert.Equal(first, again);
        Assert.Equal(1, load.Paired(first, A));
        var other = load.Pick([B, C], PlacementRole.Secondary, "w", A, T0.AddSeconds(1))!;
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void A_VM_whose_reserved_node_is_excluded_now_is_placed_elsewhere_and_the_old_reservation_dropped()
    {
        var load = new NodeLoad();
        var first = load.Pick([B, C], PlacementRole.Secondary, "v", A, T0)!;
        var rest = first == B ? C : B;
        Assert.Equal(rest, load.Pick([rest], PlacementRole.Secondary, "v", A, T0.AddSeconds(1)));
        Assert.Equal(0, load.Paired(first, A));
        Assert.Equal(1, load.Paired(rest, A));
    }

    [Fact]
    public void A_report_that_shows_the_placement_takes_its_reservation_off()
    {
        var load = new NodeLoad();
        load.Record(new NodeLoadReport(B, 0, 0, []));
        var chosen = load.Pick([B], PlacementRole.Secondary, "v", A, DateTime.UtcNow);
        Assert.Equal(B, chosen);
        Assert.Equal(1, load.Count(B, PlacementRole.Secondary));
        load.Record(new NodeLoadReport(B, 0, 1, [new PairCount(A, 1)]));
        Assert.Equal(1, load.Count(B, PlacementRole.Secondary)); // the report's one, not one more
        Assert.Equal(1, load.Paired(B, A));
    }

    [Fact]
    public void A_reservation_that_never_shows_stops_counting_after_its_life()
    {
        var load = new NodeLoad();
        var first = load.Pick([B, C], PlacementRole.Primary, "v", null, T0)!;
        var later = T0 + NodeLoad.ReservationLife + TimeSpan.FromSeconds(1);
        var next = load.Pick([B, C], PlacementRole.Primary, "x", null, later)!;
        Assert.Equal(1, load.Count(B, PlacementRole.Primary) + load.Count(C, PlacementRole.Primary)); // x's alone: v's has expired
        Assert.Equal(1, load.Count(next, PlacementRole.Primary));
        Assert.Equal(0, load.Count(next == B ? C : B, PlacementRole.Primary));
    }
}
