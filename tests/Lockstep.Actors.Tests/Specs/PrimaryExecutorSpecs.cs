using System.Text;
using Akka.Actor;
using Akka.TestKit;
using Lockstep.Actors.Executors;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Replication.Channel;
using Lockstep.Replication.FrontDoor;
using Lockstep.Replication.Secondary;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// The primary executor's decisions, message by message: a probe plays its coordinator, a real
/// replay loop (or a silent socket) plays the secondary over a real channel, the claims are a real file.
/// </summary>
public sealed class PrimaryExecutorSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly ClaimsFolder _storage = new();

    public PrimaryExecutorSpecs() : base(SpecSupport.Config) { }

    private (IActorRef Primary, TestProbe Coordinator) StartPrimary(string name)
    {
        var coordinator = CreateTestProbe();
        var primary = Sys.ActorOf(PrimaryExecutor.Props(SpecSupport.FreshPrimary(name, 1), _storage.Claims, SpecSupport.Settings, SpecSupport.Engine, coordinator.Ref), $"primary-{name}");
        return (primary, coordinator);
    }

    /// <summary>Brings a real secondary in: Alone → Attaching → Protected.</summary>
    private ReplayLoop Protect(string name, IActorRef primary, TestProbe coordinator, TestProbe secondary, ISecondaryFacts? facts = null)
    {
        var token = AttachToken.New();
        var loop = new ReplayLoop(name, MemoryMap.DefaultRamSize, SpecSupport.PeerEngine, token, SpecSupport.Settings, facts ?? new IgnoredSecondaryFacts());
        int port = loop.Start();
        primary.Tell(new AttachSecondary(name, 1, "127.0.0.1", port, token.Bytes, "test-node", secondary.Ref), coordinator.Ref);
        coordinator.ExpectReport(PrimaryPhase.Attaching);
        var protectedReport = coordinator.ExpectReport(PrimaryPhase.Protected);
        Assert.Equal(secondary.Ref, protectedReport.Secondary);
        return loop;
    }

    [Fact]
    public async Task It_claims_its_generation_before_running_then_asks_for_a_secondary_and_is_protected_once_that_holds_the_state()
    {
        var (primary, coordinator) = StartPrimary("p1");
        var alone = coordinator.ExpectReport(PrimaryPhase.Alone);
        Assert.Equal(1, alone.Generation);
        Assert.Null(alone.Secondary);
        Assert.EndsWith("/primary-p1", _storage.Claims.OwnerOf("p1", 1));

        var secondary = CreateTestProbe();
        var loop = Protect("p1", primary, coordinator, secondary);
        var status = await primary.Ask<VmStatus>(new GetVmStatus("p1"));
        Assert.Equal(Lockstep.Replication.VmState.Protected, status.State);
        Assert.Equal("test-node", status.Secondary);
        loop.Stop();
    }

    [Fact]
    public async Task A_lost_secondary_leads_to_a_claim_of_the_next_generation_and_a_request_for_a_new_one()
    {
        var (primary, coordinator) = StartPrimary("p2");
        coordinator.ExpectReport(PrimaryPhase.Alone);
        var secondary = CreateTestProbe();
        var loop = Protect("p2", primary, coordinator, secondary);

        loop.Stop(); // its socket closes: the peer is gone, so the claim goes at once
        var claiming = coordinator.ExpectReport(PrimaryPhase.Claiming);
        Assert.Equal(1, claiming.Generation);
        var alone = coordinator.ExpectReport(PrimaryPhase.Alone);
        Assert.Equal(2, alone.Generation);
        Assert.Equal(secondary.Ref, alone.FailedSecondary);
        Assert.EndsWith("/primary-p2", _storage.Claims.OwnerOf("p2", 2));
        Assert.Contains((await primary.Ask<VmStatus>(new GetVmStatus("p2"))).History, h => h.Generation == 2);
    }

    [Fact]
    public void A_lost_claim_after_losing_the_secondary_stops_the_primary_and_its_held_answers_never_leave()
    {
        var (primary, coordinator) = StartPrimary("p3");
        coordinator.ExpectReport(PrimaryPhase.Alone);
        var loop = Protect("p3", primary, coordinator, CreateTestProbe());
        var client = CreateTestProbe();
        primary.Tell(new SendPacket("p3", 1, Encoding.ASCII.GetBytes("1 PUT a 1")), client.Ref);
        client.ExpectMsg<ControlOk>();
        client.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)); // answered while protected

        Assert.True(_storage.Claims.TryClaim("p3", 2, "a rival that took over"));
        Watch(primary);
        loop.Stop();
        coordinator.ExpectReport(PrimaryPhase.Claiming);
        primary.Tell(new SendPacket("p3", 1, Encoding.ASCII.GetBytes("2 GET a")), client.Ref);
        ExpectTerminated(primary, TimeSpan.FromSeconds(10));
        // The request may have been accepted before the stop, but its answer was held and must not come.
        var after = client.ReceiveWhile(TimeSpan.FromSeconds(1), m => m);
        Assert.DoesNotContain(after, m => m is VmPacket);
    }

    [Fact]
    public void A_silent_secondary_is_claimed_against_only_after_the_claim_delay()
    {
        var (primary, coordinator) = StartPrimary("p4");
        coordinator.ExpectReport(PrimaryPhase.Alone);
        // A secondary's node that accepts the primary's link and then never says a word (not even heartbeats): frozen, or cut off.
        var token = AttachToken.New();
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Parse("127.0.0.5"), 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        primary.Tell(new AttachSecondary("p4", 1, "127.0.0.5", port, token.Bytes, "frozen-node", CreateTestProbe().Ref), coordinator.Ref);
        Assert.True(listener.Server.Poll(TimeSpan.FromSeconds(10), System.Net.Sockets.SelectMode.SelectRead), "the primary never connected");
        using var frozen = listener.AcceptSocket();
        coordinator.ExpectReport(PrimaryPhase.Attaching);
        // The RAM copy cannot finish into a socket nobody reads, or the pause follows and heartbeats go unanswered:
        // either way the channel ends without the peer having gone, so the claim waits.
        var next = coordinator.ExpectToCoordinator<PrimaryReport>(TimeSpan.FromSeconds(10));
        if (next.Phase == PrimaryPhase.Claiming)
        {
            coordinator.ExpectNoMsg(SpecSupport.Settings.ClaimDelayAfterSilence * 0.8);
            Assert.Null(_storage.Claims.OwnerOf("p4", 2));
            Assert.Equal(2, coordinator.ExpectReport(PrimaryPhase.Alone).Generation);
        }
        else
        {
            Assert.Equal(PrimaryPhase.Alone, next.Phase); // lost while its RAM was copied: it held no state, no claim needed
            Assert.Null(_storage.Claims.OwnerOf("p4", 2));
        }
    }

    [Fact]
    public void An_attach_for_another_generation_is_refused_and_that_secondary_retired()
    {
        var (primary, coordinator) = StartPrimary("p5");
        coordinator.ExpectReport(PrimaryPhase.Alone);
        var stale = CreateTestProbe();
        primary.Tell(new AttachSecondary("p5", 7, "127.0.0.1", 1, new byte[AttachToken.Length], "old-node", stale.Ref), coordinator.Ref);
        stale.ExpectMsg<RetireExecutor>();
        coordinator.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_closed_peer_loses_its_route_but_only_when_its_own_client_says_so()
    {
        var (primary, coordinator) = StartPrimary("p6");
        coordinator.ExpectReport(PrimaryPhase.Alone);
        var client = CreateTestProbe();
        primary.Tell(new SendPacket("p6", 5, Encoding.ASCII.GetBytes("1 PUT a 1")), client.Ref);
        client.ExpectMsg<ControlOk>();
        Assert.Equal("1 OK", Encoding.ASCII.GetString(client.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)).Data));

        primary.Tell(new PeerClosed("p6", 5), CreateTestProbe().Ref); // not its client: ignored
        primary.Tell(new SendPacket("p6", 5, Encoding.ASCII.GetBytes("2 GET a")), ActorRefs.NoSender);
        Assert.Equal("2 VALUE 1", Encoding.ASCII.GetString(client.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)).Data));

        primary.Tell(new PeerClosed("p6", 5), client.Ref);
        primary.Tell(new SendPacket("p6", 5, Encoding.ASCII.GetBytes("3 GET a")), ActorRefs.NoSender);
        client.ExpectNoMsg(TimeSpan.FromSeconds(1));
    }

    /// <summary>
    /// The double INCR of door-gap kill-secondary: a UDP client's request reached a stalled door, the client resent it through
    /// another door, was answered, and sent more requests than the guest remembers ids for; then the stalled door's copy came
    /// (its age checked before the stall). The guest no longer knew the id and ran it again; now the primary drops it.
    /// </summary>
    [Fact]
    public void A_late_datagram_copy_from_a_stalled_door_is_not_run_again_once_its_client_went_on_by_more_than_the_guest_remembers()
    {
        var (primary, coordinator) = StartPrimary("p8");
        coordinator.ExpectReport(PrimaryPhase.Alone);
        uint peer = PeerIds.ForDatagram(15790, new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 40000));
        var stalledDoor = CreateTestProbe();
        var door = CreateTestProbe();
        long start = DateTime.UtcNow.Ticks;
        long At(int ms) => start + ms * TimeSpan.TicksPerMillisecond;
        // The request's first copy, held in the stalled node; its resend 50 ms later through another door.
        var late = new SendPacket("p8", peer, Encoding.ASCII.GetBytes("u1 INCR cu"), ArrivedAt: At(0));
        for (int i = 1; i <= LateDatagrams.Window + 2; i++)
        {
            primary.Tell(new SendPacket("p8", peer, Encoding.ASCII.GetBytes($"u{i} INCR cu"), ArrivedAt: At(50 + 4 * i)), door.Ref);
            door.ExpectMsg<ControlOk>();
            Assert.Equal($"u{i} {i}", Encoding.ASCII.GetString(door.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)).Data));
        }
        primary.Tell(late, stalledDoor.Ref);
        stalledDoor.ExpectMsg<ControlOk>();
        int next = LateDatagrams.Window + 3;
        primary.Tell(new SendPacket("p8", peer, Encoding.ASCII.GetBytes($"u{next} INCR cu"), ArrivedAt: At(50 + 4 * next)), door.Ref);
        door.ExpectMsg<ControlOk>();
        Assert.Equal($"u{next} {next}", Encoding.ASCII.GetString(door.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)).Data));
        stalledDoor.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // no answer to the late copy either
    }

    /// <summary>
    /// A switchover whose secondary dies after it was told to take over and before it claimed the next generation (its node
    /// went, say): the channel ends without the goodbye that would mean "taken over", so the old primary claims the next
    /// generation itself, wins it, runs its guest again and answers what came meanwhile; nothing it had answered is lost.
    /// </summary>
    [Fact]
    public async Task A_secondary_that_dies_mid_handover_leaves_the_old_primary_serving_with_nothing_lost()
    {
        var (primary, coordinator) = StartPrimary("p7");
        coordinator.ExpectReport(PrimaryPhase.Alone);
        var secondary = CreateTestProbe();
        var facts = new HandoverSeen();
        var loop = Protect("p7", primary, coordinator, secondary, facts);
        var client = CreateTestProbe();
        primary.Tell(new SendPacket("p7", 1, Encoding.ASCII.GetBytes("1 INCR n")), client.Ref);
        client.ExpectMsg<ControlOk>();
        Assert.Equal("1 1", Encoding.ASCII.GetString(client.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)).Data));

        primary.Tell(new HandOver("p7", "primary switched over to test-node by the operator", DateTime.UtcNow), coordinator.Ref);
        secondary.ExpectMsg<HandoverComing>(TimeSpan.FromSeconds(10));
        // While the secondary executor is asked, the guest serves as before.
        primary.Tell(new SendPacket("p7", 1, Encoding.ASCII.GetBytes("2 INCR n")), client.Ref);
        client.ExpectMsg<ControlOk>();
        Assert.Equal("2 2", Encoding.ASCII.GetString(client.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)).Data));
        primary.Tell(new HandoverExpected("p7"), secondary.Ref);
        // A request once the loop's part began: kept by the old primary, for whichever side serves next.
        primary.Tell(new SendPacket("p7", 1, Encoding.ASCII.GetBytes("3 INCR n")), client.Ref);
        Assert.True(facts.Told.Wait(TimeSpan.FromSeconds(10)), "the secondary was never told to take over");

        loop.Stop(); // dies before its claim: no goodbye
        var claiming = coordinator.ExpectReport(PrimaryPhase.Claiming);
        Assert.Equal(1, claiming.Generation);
        Assert.Equal(2, coordinator.ExpectReport(PrimaryPhase.Alone).Generation);
        Assert.EndsWith("/primary-p7", _storage.Claims.OwnerOf("p7", 2));

        var answers = client.ReceiveWhile(TimeSpan.FromSeconds(10), m => m, msgs: 2).ToList();
        Assert.Contains(answers, m => m is VmPacket p && Encoding.ASCII.GetString(p.Data) == "3 3");
        primary.Tell(new SendPacket("p7", 1, Encoding.ASCII.GetBytes("4 GET n")), client.Ref);
        client.ExpectMsg<ControlOk>();
        Assert.Equal("4 VALUE 3", Encoding.ASCII.GetString(client.ExpectMsg<VmPacket>(TimeSpan.FromSeconds(10)).Data));
        var status = await primary.Ask<VmStatus>(new GetVmStatus("p7"));
        Assert.Equal(2, status.Generation);
        Assert.Equal(status.Outputs, status.Figures!.OutputsReleased);
    }

    /// <summary>A replay loop's facts that only tell when it was handed the VM.</summary>
    private sealed class HandoverSeen : ISecondaryFacts
    {
        public ManualResetEventSlim Told { get; } = new(false);
        public void InSync() { }
        public void PrimaryLost(CloseReason reason, string detail, Takeover takeover) { }
        public void Ended(CloseReason? reason, string detail) { }
        public void HandedOver(Takeover takeover) => Told.Set();
        public void Refused(CloseReason reason, string detail) { }
    }

    public new void Dispose()
    {
        Shutdown();
        _storage.Dispose();
        base.Dispose();
    }
}
