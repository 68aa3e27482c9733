using Akka.Configuration;
using Lockstep.Actors.Node;
using Lockstep.Replication;

namespace Lockstep.Actors.Tests;

/// <summary>The node's `lockstep` section as read into <see cref="LockstepSettings"/> (no actor system).</summary>
public sealed class LockstepSettingsConfigTests
{
    [Fact]
    public void Vm_threads_default_to_one_per_core_and_can_be_set()
    {
        Assert.Equal(Environment.ProcessorCount, LockstepSettingsConfig.From(ConfigurationFactory.ParseString("lockstep.max-lag = 100ms")).VmThreads);
        Assert.Equal(3, LockstepSettingsConfig.From(ConfigurationFactory.ParseString("lockstep.vm-threads = 3")).VmThreads);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-2)]
    public void Fewer_than_one_vm_thread_is_refused(int threads) =>
        Assert.Throws<ArgumentException>(() => LockstepSettingsConfig.From(ConfigurationFactory.ParseString($"lockstep.vm-threads = {threads}")));
}
