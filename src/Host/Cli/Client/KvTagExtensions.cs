using Lockstep.Actors.Protocol;
using Lockstep.Harness;

namespace Lockstep.Host.Cli.Client;

/// <summary>A <see cref="KvSession"/>'s tag as the cluster's packets carry it.</summary>
public static class KvTagExtensions
{
    public static DeliveryTag ToDeliveryTag(this KvTag tag) => new(tag.Session, tag.Ordinal, tag.AnsweredBelow);
}
