using Akka.Cluster.Sharding;

namespace Lockstep.Actors.Vm;

/// <summary>
/// Sharding by VM name. Every message to a region travels in a <see cref="ShardingEnvelope"/>,
/// which the base extractor unwraps itself (as it does StartEntity for remembered entities).
/// </summary>
public sealed class VmMessageExtractor() : HashCodeMessageExtractor(MaxShards)
{
    private const int MaxShards = 30;

    public override string? EntityId(object message) => null;
}
