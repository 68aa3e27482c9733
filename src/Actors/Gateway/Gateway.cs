using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.Vm;

namespace Lockstep.Actors.Gateway;

/// <summary>
/// The front door on every node (/user/gateway, registered with the ClusterClient receptionist).
/// It learns where each VM's live primary runs from the primaries' announcements and sends data
/// and per-VM requests straight there, so inputs and outputs never wait for sharding to move a
/// coordinator. Only what needs the coordinator or the directory goes through sharding.
/// </summary>
public sealed class Gateway : ReceiveActor
{
    private readonly Dictionary<string, PrimaryAnnounce> _primaries = [];

    public Gateway(IActorRef vmRegion, IActorRef directoryRegion)
    {
        Receive<PrimaryAnnounce>(a =>
        {
            if (_primaries.TryGetValue(a.Name, out var known) && known.Generation > a.Generation) return;
            if (known is null || !known.Executor.Equals(a.Executor)) Context.Watch(a.Executor);
            _primaries[a.Name] = a;
        });
        Receive<VmRemoved>(r => _primaries.Remove(r.Name));
        Receive<Terminated>(t =>
        {
            foreach (var name in _primaries.Where(kv => kv.Value.Executor.Equals(t.ActorRef)).Select(kv => kv.Key).ToList())
                _primaries.Remove(name);
        });
        Receive<SubscribeAck>(_ => { });

        Receive<CreateVm>(c => directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, c)));
        Receive<ListVms>(l => directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, l)));
        Receive<StopVm>(s =>
        {
            if (_primaries.Remove(s.Name, out var primary)) primary.Executor.Tell(s, ActorRefs.NoSender);
            directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, s));
        });
        Receive<ICoordinatorRequest>(request => vmRegion.Forward(new ShardingEnvelope(request.Name, request)));
        Receive<IControlRequest>(request =>
        {
            if (_primaries.TryGetValue(request.Name, out var primary)) primary.Executor.Forward(request);
            else vmRegion.Forward(new ShardingEnvelope(request.Name, request));
        });
    }

    public static Props Props(IActorRef vmRegion, IActorRef directoryRegion) =>
        Akka.Actor.Props.Create(() => new Gateway(vmRegion, directoryRegion));

    protected override void PreStart() =>
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(Topics.Primaries, Self));
}
