using Akka.Actor;
using Akka.Cluster;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.Vm;
using Lockstep.Replication.Channel;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// The coordinator's decisions: two real cluster nodes in this process, whose executor hosts are
/// probes; the test plays the executors' side of the placement protocol.
/// </summary>
public sealed class ProtectedVmSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly ClaimsFolder _storage = new();
    private readonly ActorSystem _other;
    private readonly TestProbe _hostHere, _hostThere;

    public ProtectedVmSpecs() : base(SpecSupport.Config)
    {
        _other = ActorSystem.Create(Sys.Name, SpecSupport.Config);
        _hostHere = CreateTestProbe();
        _hostThere = new TestProbe(_other, new XunitAssertions());
        Sys.ActorOf(Props.Create(() => new Relay(_hostHere.Ref)), "executors");
        _other.ActorOf(Props.Create(() => new Relay(_hostThere.Ref)), "executors");
        var here = Cluster.Get(Sys);
        here.Join(here.SelfAddress);
        Cluster.Get(_other).Join(here.SelfAddress);
        AwaitAssert(() => Assert.Equal(2, here.State.Members.Count(m => m.Status == MemberStatus.Up)), TimeSpan.FromSeconds(20));
    }

    /// <summary>Stands in for a node's executor host at /user/executors.</summary>
    private sealed class Relay : ReceiveActor
    {
        public Relay(IActorRef probe) => ReceiveAny(m => probe.Forward(m));
    }

    private ActorSystem SystemOf(TestProbe host) => host == _hostHere ? Sys : _other;

    /// <summary>
    /// Sends to the coordinator as an executor on <paramref name="from"/> would: over remoting when that is the other
    /// node, so the actor references inside arrive with their node's address, as they do in a real cluster.
    /// </summary>
    private void ToVm(string name, object message, ActorSystem from)
    {
        if (from == Sys) Sys.ActorSelection($"/user/{name}").Tell(message);
        else from.ActorSelection(new RootActorPath(Cluster.Get(Sys).SelfAddress) / "user" / name).Tell(message);
    }

    /// <summary>Creates the VM and plays its first primary up to Alone; returns the primary's probe and its host.</summary>
    private (IActorRef Vm, TestProbe Primary, TestProbe PrimaryHost) CreateAndStart(string name)
    {
        var vm = Sys.ActorOf(ProtectedVm.Props(name, _storage.Claims), name);
        vm.Tell(new DefineVm(name, SpecSupport.KvImage, 16 << 20, []));
        ExpectMsg<VmDefined>(d => d.Error is null, TimeSpan.FromSeconds(10));
        var (start, host) = ExpectOnEitherHost<StartPrimary>();
        Assert.Equal(1, start.Generation);
        var primary = new TestProbe(SystemOf(host), new XunitAssertions());
        ToVm(name, Report(name, 1, PrimaryPhase.Alone, primary), SystemOf(host));
        return (vm, primary, host);
    }

    private static PrimaryReport Report(string name, long generation, PrimaryPhase phase, TestProbe primary,
        IActorRef? secondary = null, IActorRef? failed = null) =>
        new(name, generation, phase, "primary-node", primary.Ref, secondary, failed, null, []);

    private (T Message, TestProbe Host) ExpectOnEitherHost<T>(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            foreach (var host in new[] { _hostHere, _hostThere })
                if (host.HasMessages && host.ReceiveOne(TimeSpan.Zero) is T message) return (message, host);
            Thread.Sleep(10);
        }
        throw new Xunit.Sdk.XunitException($"no {typeof(T).Name} reached either executor host");
    }

    private static SecondaryUp Up(StartSecondary start, TestProbe secondary) =>
        new(start.Vm.Name, start.Generation, start.Attempt, "127.0.0.1", 1, new byte[AttachToken.Length], "secondary-node", secondary.Ref);

    /// <summary>The directory sends a definition again until it is answered (a shard restart drops it): once defined, it is answered, not done twice.</summary>
    [Fact]
    public void A_definition_sent_again_is_answered_without_a_second_primary_and_another_one_is_refused()
    {
        var (vm, _, _) = CreateAndStart("d1");
        vm.Tell(new DefineVm("d1", SpecSupport.KvImage, 16 << 20, []));
        Assert.Null(ExpectMsg<VmDefined>(TimeSpan.FromSeconds(5)).Error);
        vm.Tell(new DefineVm("d1", SpecSupport.KvImage, 32 << 20, []));
        Assert.Equal(ControlErrorKind.AlreadyExists, ExpectMsg<VmDefined>(TimeSpan.FromSeconds(5)).Error);
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ExpectOnEitherHost<StartPrimary>(TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void It_places_the_secondary_on_the_other_node_and_hands_it_to_the_primary()
    {
        var (_, primary, primaryHost) = CreateAndStart("vm1");
        var otherHost = primaryHost == _hostHere ? _hostThere : _hostHere;
        var start = otherHost.ExpectMsg<StartSecondary>(TimeSpan.FromSeconds(10));
        Assert.Equal(1, start.Generation);
        primaryHost.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // never beside its primary
        Assert.Equal(1, primary.ExpectMsg<SecondaryPlaced>().Generation);

        var secondary = new TestProbe(SystemOf(otherHost), new XunitAssertions());
        ToVm("vm1", Up(start, secondary), SystemOf(otherHost));
        var attach = primary.ExpectMsg<AttachSecondary>();
        // The same actor, seen from another node: compare without the address.
        Assert.Equal((secondary.Ref.Path.ToStringWithoutAddress(), secondary.Ref.Path.Uid), (attach.Secondary.Path.ToStringWithoutAddress(), attach.Secondary.Path.Uid));

        // A secondary reporting for a placement that is not the current one is sent away.
        var stray = new TestProbe(SystemOf(otherHost), new XunitAssertions());
        ToVm("vm1", Up(start with { Attempt = Guid.NewGuid() }, stray), SystemOf(otherHost));
        stray.ExpectMsg<RetireExecutor>();
    }

    [Fact]
    public void A_watched_secondary_that_dies_is_placed_again()
    {
        var (_, primary, primaryHost) = CreateAndStart("vm2");
        var otherHost = primaryHost == _hostHere ? _hostThere : _hostHere;
        var start = otherHost.ExpectMsg<StartSecondary>(TimeSpan.FromSeconds(10));
        var secondary = new TestProbe(SystemOf(otherHost), new XunitAssertions());
        ToVm("vm2", Up(start, secondary), SystemOf(otherHost));
        primary.FishForMessage(m => m is AttachSecondary);

        SystemOf(otherHost).Stop(secondary.Ref); // before the primary got it in

        var again = otherHost.ExpectMsg<StartSecondary>(TimeSpan.FromSeconds(10));
        Assert.NotEqual(start.Attempt, again.Attempt);
        Assert.Equal(1, again.Generation);
    }

    [Fact]
    public void A_primary_that_lost_its_secondary_gets_one_for_its_new_generation_after_its_claim()
    {
        var (_, primary, primaryHost) = CreateAndStart("vm3");
        var otherHost = primaryHost == _hostHere ? _hostThere : _hostHere;
        var start = otherHost.ExpectMsg<StartSecondary>(TimeSpan.FromSeconds(10));
        var secondary = new TestProbe(SystemOf(otherHost), new XunitAssertions());
        ToVm("vm3", Up(start, secondary), SystemOf(otherHost));
        ToVm("vm3", Report("vm3", 1, PrimaryPhase.Protected, primary, secondary.Ref), SystemOf(primaryHost));

        ToVm("vm3", Report("vm3", 1, PrimaryPhase.Claiming, primary), SystemOf(primaryHost));
        otherHost.ExpectNoMsg(TimeSpan.FromMilliseconds(500)); // nothing is placed for a generation about to end
        ToVm("vm3", Report("vm3", 2, PrimaryPhase.Alone, primary, failed: secondary.Ref), SystemOf(primaryHost));
        Assert.Equal(2, otherHost.FishForMessage<StartSecondary>(_ => true, TimeSpan.FromSeconds(10)).Generation);
    }

    [Fact]
    public void A_watched_primary_that_dies_with_no_successor_is_placed_again_from_the_claims()
    {
        var (_, primary, primaryHost) = CreateAndStart("vm4");
        Assert.True(_storage.Claims.TryClaim("vm4", 1, "127.0.0.9:1#1/primary-vm4-g1")); // its holder is no member
        SystemOf(primaryHost).Stop(primary.Ref);
        var (restart, _) = ExpectOnEitherHost<StartPrimary>(TimeSpan.FromSeconds(15));
        Assert.Equal(2, restart.Generation);
    }

    [Fact]
    public void A_secondary_taking_over_is_adopted_as_the_new_primary_without_placing_another()
    {
        var (_, primary, primaryHost) = CreateAndStart("vm5");
        var otherHost = primaryHost == _hostHere ? _hostThere : _hostHere;
        otherHost.ExpectMsg<StartSecondary>(TimeSpan.FromSeconds(10));
        var promoted = new TestProbe(SystemOf(otherHost), new XunitAssertions());
        ToVm("vm5", Report("vm5", 2, PrimaryPhase.Alone, promoted), SystemOf(otherHost));
        SystemOf(primaryHost).Stop(primary.Ref); // the old primary's end arrives after its successor reported
        var start = primaryHost.FishForMessage<StartSecondary>(_ => true, TimeSpan.FromSeconds(10));
        Assert.Equal(2, start.Generation);
        Assert.Equal(2, promoted.FishForMessage<SecondaryPlaced>(_ => true).Generation);
        // No new primary, though the old one is gone (a secondary placed again after its start timed out is fine:
        // the test never starts one).
        Thread.Sleep(TimeSpan.FromSeconds(4));
        foreach (var host in new[] { _hostHere, _hostThere })
            while (host.HasMessages) Assert.IsNotType<StartPrimary>(host.ReceiveOne(TimeSpan.Zero));
    }

    public new void Dispose()
    {
        _other.Terminate().Wait(TimeSpan.FromSeconds(10));
        Shutdown();
        _storage.Dispose();
        base.Dispose();
    }
}
