using Lockstep.Actors.Node;
using Lockstep.Harness;
using Lockstep.Replication.Claims;

namespace Lockstep.Actors.Tests;

/// <summary>A node's configuration: node.conf, the node's own HOCON over it, the flags over both.</summary>
public sealed class NodeConfigTests
{
    private const string Journal = "sqlite:/tmp/lockstep-node-config-unused.db";

    private static NodeOptions Options(string? hocon) => new("127.0.0.2", 4321, [], Journal, RepoRoot.Hocon, Hocon: hocon);

    [Fact]
    public void The_nodes_own_hocon_overrides_node_conf_and_the_flags_override_it()
    {
        var config = NodeConfig.Build(Options("lockstep.serializer-warmup = off\nakka.remote.dot-netty.tcp.port = 9999"), JournalLocation.Parse(Journal));
        Assert.False(config.GetBoolean("lockstep.serializer-warmup", true));
        Assert.Equal(4321, config.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.True(NodeConfig.Build(Options(null), JournalLocation.Parse(Journal)).GetBoolean("lockstep.serializer-warmup", false));
    }
}
