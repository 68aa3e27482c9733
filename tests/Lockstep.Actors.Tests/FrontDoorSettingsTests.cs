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
