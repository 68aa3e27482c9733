using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.TestKit;
using Lockstep.Actors.Executors;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// The secondary executor's decisions: a probe plays its coordinator and another its executor host
/// (the parent that would run the promoted machine); a real primary loop feeds it over a real channel.
/// </summary>
public sealed class SecondaryExecutorSpecs : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private readonly ClaimsFolder _storage = new();
    private readonly List<PrimaryLoop> _primaries = [];

    public SecondaryExecutorSpecs() : base(SpecSupport.Config) { }

    private (IActorRef Secondary, TestProbe Host, SecondaryUp Up) StartSecondary(string name)
    {
        var coordinator = CreateTestProbe();
        var host = CreateTestProbe();
        var start = new StartSecondary(SpecSupport.Kv(name), 1, Guid.NewGuid(), Cluster.Get(Sys).SelfAddress, [], Coordinator: coordinator.Ref);
        var secondary = host.ChildActorOf(SecondaryExecutor.Props(start, _storage.Claims, SpecSupport.Settings, SpecSupport.Engine, coordinator.Ref), $"secondary-{name}");
        var up = coordinator.ExpectToCoordinator<SecondaryUp>();
        Assert.Equal(start.Attempt, up.Attempt);
        Assert.Equal(AttachToken.Length, up.Token.Length);
        return (secondary, host, up);
    }

    /// <summary>A live kv primary attached to the secondary that reported <paramref name="up"/>, in sync.</summary>
    private (PrimaryLoop Loop, RecordedPrimaryFacts Facts) AttachPrimary(string name, SecondaryUp up)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, SpecSupport.KvImage);
        var facts = new RecordedPrimaryFacts();
        var loop = new PrimaryLoop(name, machine, 0, 0, SpecSupport.Settings, SpecSupport.PeerEngine, facts);
        _primaries.Add(loop);
        loop.Start();
        loop.Attach(up.Host, up.Port, AttachToken.Of(up.Token));
        Assert.True(facts.InSyncSeen.Wait(TimeSpan.FromSeconds(15)), $"never in sync: {string.Join("; ", facts.Failures)}");
        return (loop, facts);
    }

    [Fact]
    public void A_lost_primary_leads_to_a_claim_and_a_won_claim_to_the_machine_running_live_as_the_next_generation()
    {
        var (secondary, host, up) = StartSecondary("s1");
        var (primary, _) = AttachPrimary("s1", up);
        for (int id = 1; id <= 20; id++) primary.Deliver(1, Encoding.ASCII.GetBytes($"{id} INCR n"));
        Thread.Sleep(300);
        Watch(secondary);
        primary.Kill(); // as a crash: the channel drops without a goodbye

        var launch = host.ExpectMsg<PrimaryLaunch>(TimeSpan.FromSeconds(15));
        Assert.True(launch.Claimed);
        Assert.Equal(2, launch.Generation);
        Assert.Equal(Cluster.Get(Sys).SelfAddress, launch.LostNode);
        Assert.EndsWith("/secondary-s1", _storage.Claims.OwnerOf("s1", 2));
        Assert.Single(launch.History);
        Assert.NotNull(launch.Coordinator); // the new primary reports to the coordinator directly, not through the region
        ExpectTerminated(secondary);
    }

    [Fact]
    public void A_lost_claim_stops_the_secondary_without_going_live()
    {
        var (secondary, host, up) = StartSecondary("s2");
        var (primary, _) = AttachPrimary("s2", up);
        Assert.True(_storage.Claims.TryClaim("s2", 2, "the primary, which claimed first"));
        Watch(secondary);
        primary.Kill();
        ExpectTerminated(secondary, TimeSpan.FromSeconds(15));
        host.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public void A_goodbye_ends_the_secondary_without_a_claim()
    {
        var (secondary, host, up) = StartSecondary("s3");
        var (primary, _) = AttachPrimary("s3", up);
        Watch(secondary);
        primary.Stop();
        ExpectTerminated(secondary, TimeSpan.FromSeconds(15));
        host.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
        Assert.Null(_storage.Claims.OwnerOf("s3", 2));
    }

    /// <summary>
    /// Whoever connects first to the secondary's port cannot feed it state: garbage, a hello with a wrong
    /// token and a connection that says nothing are dropped, and the real primary still brings it in sync,
    /// with the same state hash at the same instruction count.
    /// </summary>
    [Fact]
    public void Only_the_primary_with_the_attach_token_is_admitted_and_the_replicas_then_match()
    {
        var (_, _, up) = StartSecondary("s4");
        using (var garbage = Connect(up.Port)) garbage.Send(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n"));
        using (var impostor = Connect(up.Port)) impostor.Send(FrameCodec.Encode(1, new HelloFrame("s4", AttachToken.New().Bytes)));
        using (var huge = Connect(up.Port)) huge.Send([(byte)FrameType.Hello, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f]);
        using var silent = Connect(up.Port);

        var (primary, facts) = AttachPrimary("s4", up);
        var load = new Thread(() =>
        {
            for (int id = 1; id <= 3000; id++) primary.Deliver(1, Encoding.ASCII.GetBytes($"{id} INCR n"));
        });
        load.Start();
        primary.RequestHashCheck();
        Assert.True(facts.HashChecks.TryTake(out var check, TimeSpan.FromSeconds(20)), "no replica check answer");
        load.Join();
        Assert.NotEqual(0UL, check.Primary);
        Assert.Equal(check.Primary, check.Secondary);
    }

    private static Socket Connect(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect("127.0.0.1", port);
        return socket;
    }

    public new void Dispose()
    {
        foreach (var primary in _primaries) primary.Kill();
        Shutdown();
        _storage.Dispose();
        base.Dispose();
    }
}
