using Akka.Actor;
using Akka.Cluster.Sharding;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.Vm;

namespace Lockstep.Actors.Gateway;

/// <summary>
/// The gateway's requests about many VMs that it answers itself (`vm list`): each VM's part is asked concurrently,
/// and one answer holds a result per VM. They run as tasks outside the gateway, which only pipes the answer back.
/// A create of many is the directory's (it defines the VMs a window at a time and answers once).
/// </summary>
public static class BatchRequests
{
    /// <summary>How long one VM's status may take within `vm list`.</summary>
    public static readonly TimeSpan StatusWait = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the directory may take to give the names: the first request of a cluster starts it (its shard is
    /// allocated, its journal read), which took over 5 s on a loaded machine and failed `vm list` on an empty cluster.
    /// Below the CLI's own 30 s.
    /// </summary>
    public static readonly TimeSpan NamesWait = TimeSpan.FromSeconds(20);

    public static async Task<VmSummaries> List(IActorRef directory, IActorRef gateway)
    {
        var names = await directory.Ask<VmList>(new ShardingEnvelope(VmDirectory.EntityId, new ListVms()), NamesWait);
        var summaries = names.Names.Order(StringComparer.Ordinal).Select(name => Summarize(gateway, name));
        return new VmSummaries(await Task.WhenAll(summaries));
    }

    private static async Task<VmSummary> Summarize(IActorRef gateway, string name)
    {
        try
        {
            return await gateway.Ask<object>(new GetVmStatus(name), StatusWait) switch
            {
                VmStatus s => new VmSummary(name, s.State, s.Generation, s.Primary, s.Secondary, null),
                ControlError error => new VmSummary(name, null, 0, null, null, error.Message),
                var other => new VmSummary(name, null, 0, null, null, $"unexpected answer {other.GetType().Name}"),
            };
        }
        catch (AskTimeoutException)
        {
            return new VmSummary(name, null, 0, null, null, $"no status within {StatusWait.TotalSeconds:0} s");
        }
    }
}
