using Akka.Actor;
using Akka.Configuration;
using Lockstep.Actors.Node;
using Lockstep.Actors.Protocol;
using Lockstep.Replication.Claims;
using Lockstep.Harness;
using Xunit.Abstractions;

namespace Lockstep.Actors.Tests;

/// <summary>The node's serializers built ahead for the protocol messages, with the node's own serialization settings.</summary>
public sealed class SerializerWarmupTests : IDisposable
{
    // A node's configuration (its serializers and their settings) on any free port, joining no cluster.
    private static readonly string Journal = $"sqlite:{Path.Combine(Path.GetTempPath(), "lockstep-warmup-unused.db")}";
    private readonly ActorSystem _system = ActorSystem.Create("lockstep", ConfigurationFactory.ParseString("akka.loglevel = WARNING")
        .WithFallback(NodeConfig.Build(new NodeOptions("127.0.0.1", 0, [], Journal, RepoRoot.Hocon), JournalLocation.Parse(Journal))));

    private readonly ITestOutputHelper _output;

    public SerializerWarmupTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(10));

    [Fact]
    public void Every_protocol_message_round_trips_through_the_nodes_serializer()
    {
        var result = SerializerWarmup.Run(_system);
        foreach (var (type, why) in result.Skipped) _output.WriteLine($"skipped {type.Name}: {why}");
        _output.WriteLine($"{result.Warmed.Count} in {result.Took.TotalMilliseconds:F0} ms");
        Assert.Empty(result.Skipped);
        Assert.Equal(SerializerWarmup.ProtocolTypes(), result.Warmed);
        // The messages of a failover and a re-protection, which a fault must not wait to have built.
        foreach (var type in new[] { typeof(StartSecondary), typeof(SecondaryUp), typeof(PrimaryAnnounce), typeof(VmPacket), typeof(SendPacket), typeof(ForwardToPrimary) })
            Assert.Contains(type, result.Warmed);
    }

    [Fact]
    public void A_message_that_cannot_be_sampled_is_left_to_its_first_use_and_the_rest_are_built()
    {
        var result = SerializerWarmup.Run(_system, [typeof(Unsampleable), typeof(VmPacket)]);
        Assert.Equal([typeof(VmPacket)], result.Warmed);
        var (type, why) = Assert.Single(result.Skipped);
        Assert.Equal(typeof(Unsampleable), type);
        Assert.Contains("no way to build", why);
    }

    public sealed class Unsampleable
    {
        public Unsampleable(string name) => throw new InvalidOperationException($"no way to build {name}");
    }
}
