using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.Vm;

namespace Lockstep.Actors.Gateway;

/// <summary>
/// The front door on every node (/user/gateway, registered with the ClusterClient receptionist).
/// It learns where each VM's live primary runs from the primaries' announcements (made when a primary
/// goes live, not periodically) and sends data and per-VM requests straight there, so inputs and
/// outputs never wait for sharding to move a coordinator. A VM it has no route for (it joined after
/// the announcement, or the primary died: DeathWatch drops the route) goes through its coordinator,
/// and the gateway asks for the route at the same time. Only what needs the coordinator or the
/// directory goes through sharding.
/// </summary>
public sealed class Gateway : ReceiveActor
{
    /// <summary>At most one ask per VM in this time: a burst of requests for an unrouted VM asks once.</summary>
    private static readonly TimeSpan AskInterval = TimeSpan.FromMilliseconds(250);

    private const int MaxAsked = 10_000;

    private readonly Dictionary<string, PrimaryAnnounce> _primaries = [];
    // Every VM a primary was announced for until it is removed: a primary that died is forgotten above until its
    // successor announces itself, but `vm list` without the directory must still name the VM (bounded by the VMs there are).
    private readonly HashSet<string> _heardOf = [];
    private readonly Dictionary<string, DateTime> _asked = [];
    private readonly IActorRef _vmRegion;

    public Gateway(IActorRef vmRegion, IActorRef directoryRegion)
    {
        _vmRegion = vmRegion;
        Receive<PrimaryAnnounce>(Learn);
        Receive<VmRemoved>(r =>
        {
            Forget(r.Name);
            _heardOf.Remove(r.Name);
        });
        Receive<Terminated>(t =>
        {
            foreach (var name in _primaries.Where(kv => kv.Value.Executor.Equals(t.ActorRef)).Select(kv => kv.Key).ToList())
                Forget(name);
        });
        Receive<SubscribeAck>(_ => { });
        Receive<LocatePrimary>(locate =>
        {
            if (_primaries.TryGetValue(locate.Name, out var known)) Sender.Tell(known);
            else vmRegion.Forward(new ShardingEnvelope(locate.Name, locate));
        });

        Receive<CreateVm>(c => directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, c)));
        Receive<ListVms>(l => directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, l)));
        Receive<CreateVms>(batch => directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, batch)));
        Receive<ExposeVm>(expose => directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, expose)));
        Receive<ListVmSummaries>(_ => BatchRequests.List(directoryRegion, Self, _heardOf.ToList()).PipeTo(Sender));
        Receive<StopVm>(s =>
        {
            if (_primaries.Remove(s.Name, out var primary)) primary.Executor.Tell(s, ActorRefs.NoSender);
            directoryRegion.Forward(new ShardingEnvelope(VmDirectory.EntityId, s));
        });
        Receive<ExportVm>(export => Export.ExportSession.Start(Context, export, Sender));
        Receive<ReadExportChunk>(read => Export.ExportSession.Forward(Context, read));
        Receive<ICoordinatorRequest>(request => vmRegion.Forward(new ShardingEnvelope(request.Name, request)));
        Receive<IControlRequest>(request =>
        {
            if (_primaries.TryGetValue(request.Name, out var primary))
            {
                primary.Executor.Forward(request);
                return;
            }
            vmRegion.Forward(new ShardingEnvelope(request.Name, request));
            Ask(request.Name);
        });
    }

    public static Props Props(IActorRef vmRegion, IActorRef directoryRegion) =>
        Akka.Actor.Props.Create(() => new Gateway(vmRegion, directoryRegion));

    protected override void PreStart() =>
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(Topics.Primaries, Self));

    private void Learn(PrimaryAnnounce announce)
    {
        if (_primaries.TryGetValue(announce.Name, out var known) && known.Generation > announce.Generation) return;
        if (known is not null && !known.Executor.Equals(announce.Executor)) Context.Unwatch(known.Executor);
        if (known is null || !known.Executor.Equals(announce.Executor)) Context.Watch(announce.Executor);
        _primaries[announce.Name] = announce;
        _heardOf.Add(announce.Name);
        _asked.Remove(announce.Name);
    }

    private void Forget(string name)
    {
        if (_primaries.Remove(name, out var known) && !_primaries.Values.Any(p => p.Executor.Equals(known.Executor)))
            Context.Unwatch(known.Executor);
    }

    private void Ask(string name)
    {
        if (string.IsNullOrEmpty(name)) return;
        var now = DateTime.UtcNow;
        if (_asked.TryGetValue(name, out var last) && now - last < AskInterval) return;
        if (_asked.Count >= MaxAsked) _asked.Clear(); // names that never got a primary (mistyped, stopped) do not pile up
        _asked[name] = now;
        _vmRegion.Tell(new ShardingEnvelope(name, new LocatePrimary(name)));
    }
}
