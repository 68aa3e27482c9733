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

    /// <summary>
    /// How long `vm list` waits for the directory before it lists what the gateway routes to instead. The directory is one
    /// sharded entity: when its node dies, nobody can host it until that node is downed, tens of seconds later
    /// (bench/scale.sh's `vm list` after a kill -9 waited its whole 30 s), while the VMs themselves are live again within one.
    /// </summary>
    public static readonly TimeSpan DirectoryPatience = TimeSpan.FromSeconds(3);

    /// <param name="routed">The VMs the gateway has heard a primary of; with none it waits for the directory alone.</param>
    public static async Task<VmSummaries> List(IActorRef directory, IActorRef gateway, IReadOnlyCollection<string> routed)
    {
        var names = directory.Ask<VmList>(new ShardingEnvelope(VmDirectory.EntityId, new ListVms()), NamesWait);
        if (routed.Count > 0 && await Task.WhenAny(names, Task.Delay(DirectoryPatience)).ConfigureAwait(false) != names)
        {
            _ = names.ContinueWith(late => late.Exception, TaskContinuationOptions.OnlyOnFaulted); // its timeout is expected now
            return new VmSummaries(await Summarize(gateway, routed).ConfigureAwait(false),
                $"the VM directory did not answer within {DirectoryPatience.TotalSeconds:0} s (its node may be lost and not yet downed): " +
                $"these are the {routed.Count} VMs this node has heard a primary of, which leaves out any it never heard of");
        }
        return new VmSummaries(await Summarize(gateway, (await names.ConfigureAwait(false)).Names).ConfigureAwait(false));
    }

    private static Task<VmSummary[]> Summarize(IActorRef gateway, IEnumerable<string> names) =>
        Task.WhenAll(names.Order(StringComparer.Ordinal).Select(name => Summarize(gateway, name)));

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
