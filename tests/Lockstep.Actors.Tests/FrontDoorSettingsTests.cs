using Akka.Actor;
using Akka.Configuration;
using Lockstep.Actors.FrontDoor;

namespace Lockstep.Actors.Tests;

/// <summary>The node's `lockstep.front-door` section as read into <see cref="FrontDoorSettings"/> (no actor system).</summary>
public sealed class FrontDoorSettingsTests
{
    [Fact]
    public void The_datagram_age_limit_defaults_to_200_ms_and_can_be_set()
    {
        Assert.Equal(TimeSpan.FromMilliseconds(200), FrontDoorSettings.From(ConfigurationFactory.ParseString("lockstep.front-door.retry-bind = 1s")).MaxDatagramAge);
        Assert.Equal(TimeSpan.FromMilliseconds(750), FrontDoorSettings.From(ConfigurationFactory.ParseString("lockstep.front-door.max-datagram-age = 750ms")).MaxDatagramAge);
    }

    [Fact]
    public void The_connection_limit_defaults_to_1024_and_can_be_set()
    {
        Assert.Equal(1024, FrontDoorSettings.From(ConfigurationFactory.ParseString("lockstep.front-door.retry-bind = 1s")).MaxConnections);
        Assert.Equal(3, FrontDoorSettings.From(ConfigurationFactory.ParseString("lockstep.front-door.max-connections = 3")).MaxConnections);
    }

    private sealed class WhichThread : ReceiveActor
    {
        public WhichThread() => Receive<string>(_ => Sender.Tell(Thread.CurrentThread.IsThreadPoolThread));
    }

    /// <summary>The node's own configuration (hocon/node.conf), its front-door section only, in a local actor system.</summary>
    private static Config NodeFrontDoorSection()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string file = Path.Combine(dir.FullName, "hocon", "node.conf");
            if (!File.Exists(file)) continue;
            var section = ConfigurationFactory.ParseString(File.ReadAllText(file)).GetConfig("lockstep.front-door.dispatcher");
            return ConfigurationFactory.ParseString($"akka.loglevel = WARNING\n{FrontDoorSettings.DispatcherPath} {{\n{section.Root}\n}}");
        }
        throw new FileNotFoundException("hocon/node.conf not found above the test's folder");
    }

    [Fact]
    public async Task The_front_door_runs_on_threads_of_its_own_where_the_node_configures_them_and_on_the_pool_elsewhere()
    {
        using (var node = ActorSystem.Create("node", NodeFrontDoorSection()))
        {
            Assert.True(node.Dispatchers.HasDispatcher(FrontDoorSettings.DispatcherPath));
            var door = node.ActorOf(FrontDoorSettings.OnOwnThreads(Props.Create(() => new WhichThread()), node));
            Assert.False(await door.Ask<bool>("which", TimeSpan.FromSeconds(10)));
        }
        using var plain = ActorSystem.Create("plain", "akka.loglevel = WARNING");
        var pooled = plain.ActorOf(FrontDoorSettings.OnOwnThreads(Props.Create(() => new WhichThread()), plain));
        Assert.True(await pooled.Ask<bool>("which", TimeSpan.FromSeconds(10)));
    }

    [Theory]
    [InlineData("max-connections = 0", "max-connections")]
    [InlineData("max-datagram-age = 0ms", "max-datagram-age")]
    [InlineData("max-datagram-age = -5ms", "max-datagram-age")]
    [InlineData("max-packet = 70000", "max-packet")]
    [InlineData("max-packet = 0", "max-packet")]
    public void A_limit_out_of_range_is_refused_naming_the_setting(string setting, string named)
    {
        var refused = Assert.Throws<ArgumentException>(() => FrontDoorSettings.From(ConfigurationFactory.ParseString($"lockstep.front-door {{ {setting} }}")));
        Assert.Contains($"lockstep.front-door.{named}", refused.Message);
    }
}
