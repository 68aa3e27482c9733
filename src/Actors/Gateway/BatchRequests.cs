using Akka.Actor;
using Akka.Cluster.Sharding;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.Vm;

namespace Lockstep.Actors.Gateway;

/// <summary>
/// The gateway's requests about many VMs: each VM's part is asked concurrently (the directory and the
/// coordinators serialise only what is theirs), and one answer holds a result per VM.
/// They run as tasks outside the gateway, which only pipes the answer back.
/// </summary>
public static class BatchRequests
{
    /// <summary>How long one VM's create may take within a batch (the directory persists the names one after another).</summary>
    public static readonly TimeSpan CreateWait = TimeSpan.FromMinutes(2);

    /// <summary>How long one VM's status may take within `vm list`.</summary>
    public static readonly TimeSpan StatusWait = TimeSpan.FromSeconds(5);

    public static async Task<VmsCreated> Create(CreateVms batch, IActorRef directory)
    {
        var creates = batch.Names.Select((name, i) => CreateOne(directory,
            new CreateVm(name, batch.Image, batch.MemorySize, batch.ExposeFrom is { } from ? [from + i] : null, batch.Durable)));
        return new VmsCreated(await Task.WhenAll(creates));
    }

    public static async Task<VmSummaries> List(IActorRef directory, IActorRef gateway)
    {
        var names = await directory.Ask<VmList>(new ShardingEnvelope(VmDirectory.EntityId, new ListVms()), StatusWait);
        var summaries = names.Names.Order(StringComparer.Ordinal).Select(name => Summarize(gateway, name));
        return new VmSummaries(await Task.WhenAll(summaries));
    }

    private static async Task<CreateResult> CreateOne(IActorRef directory, CreateVm create)
    {
        try
        {
            return await directory.Ask<object>(new ShardingEnvelope(VmDirectory.EntityId, create), CreateWait) switch
            {
                ControlOk ok => new CreateResult(create.Name, ok.Message, null),
                ControlError error => new CreateResult(create.Name, error.Message, error.Kind),
                var other => new CreateResult(create.Name, $"unexpected answer {other.GetType().Name}", ControlErrorKind.Unavailable),
            };
        }
        catch (AskTimeoutException)
        {
            return new CreateResult(create.Name, $"no answer within {CreateWait.TotalSeconds:0} s; `vm status {create.Name}` tells whether it was created", ControlErrorKind.Unavailable);
        }
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
