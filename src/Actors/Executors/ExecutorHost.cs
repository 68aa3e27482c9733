using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Lockstep.Actors.Protocol;
using Lockstep.Replication;
using Lockstep.Replication.Claims;

namespace Lockstep.Actors.Executors;

/// <summary>
/// One per node, at /user/executors: the parent of every primary and secondary run on this node.
/// Executors live here, not under the coordinator, so they survive the loss of the coordinator's
/// node; the coordinator supervises them across nodes by DeathWatch and placement, and finds them
/// again after it is re-created elsewhere (<see cref="FindExecutors"/>). It also tells placement
/// what this node runs (<see cref="NodeLoadReport"/>), shortly after each change.
/// </summary>
public sealed class ExecutorHost : ReceiveActor, IWithTimers
{
    private enum Role { Primary, Secondary, Rebuilding }

    private sealed record PublishLoad;

    /// <summary>Changes within this time go out as one report (a create of many starts many executors at once).</summary>
    private static readonly TimeSpan LoadCoalescing = TimeSpan.FromMilliseconds(100);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, (string Vm, Role Role, Address? PrimaryNode)> _executors = [];
    private readonly Address _node = Cluster.Get(Context.System).SelfAddress;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="scheduler">The node's VM threads, shared by every primary and secondary here.</param>
    /// <param name="coordinators">The shard region of the VM coordinators (messages in a ShardingEnvelope by VM name).</param>
    /// <param name="engine">The node's replication engine, shared by every executor here.</param>
    public ExecutorHost(ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators)
    {
        Receive<StartPrimary>(start => Spawn($"rebuild-{start.Vm.Name}-g{start.Generation}", VmRebuilder.Props(start), (start.Vm.Name, Role.Rebuilding, null)));
        Receive<PrimaryLaunch>(launch => Spawn($"primary-{launch.Vm.Name}-g{launch.Generation}",
            PrimaryExecutor.Props(launch, claims, settings, engine, coordinators), (launch.Vm.Name, Role.Primary, null)));
        Receive<StartSecondary>(start => Spawn($"secondary-{start.Vm.Name}-g{start.Generation}-{start.Attempt:N}",
            SecondaryExecutor.Props(start, claims, settings, engine, coordinators), (start.Vm.Name, Role.Secondary, start.PrimaryNode)));
        Receive<ForwardToPrimary>(forward =>
        {
            // None here (it did not come up): the client's resend finds the primary wherever it is.
            foreach (var primary in _executors.Where(e => e.Value.Vm == forward.Name && e.Value.Role == Role.Primary).Select(e => e.Key))
                primary.Tell(forward.Packet, forward.Client);
        });
        Receive<FindExecutors>(find =>
        {
            var mine = _executors.Where(e => e.Value.Vm == find.Name).ToList();
            Sender.Tell(new ExecutorsFound(find.Name,
                mine.Where(e => e.Value.Role == Role.Primary).Select(e => e.Key).ToList(),
                mine.Where(e => e.Value.Role == Role.Secondary).Select(e => e.Key).ToList()));
        });
        Receive<GetNodeLoad>(_ => Sender.Tell(Load()));
        Receive<PublishLoad>(_ => DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(LoadTopics.Load, Load())));
        Receive<Terminated>(t =>
        {
            if (_executors.Remove(t.ActorRef)) LoadChanged();
        });
    }

    public static Props Props(ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators) =>
        Akka.Actor.Props.Create(() => new ExecutorHost(claims, settings, engine, coordinators));

    private void Spawn(string name, Props props, (string Vm, Role Role, Address? PrimaryNode) executor)
    {
        if (!Context.Child(name).IsNobody())
        {
            _log.Warning("executor {0} already runs here", name);
            return;
        }
        var child = Context.ActorOf(props, name);
        _executors[child] = executor;
        Context.Watch(child);
        LoadChanged();
    }

    /// <summary>A primary being rebuilt counts as one: it is about to run here.</summary>
    private NodeLoadReport Load() => new(_node,
        _executors.Values.Count(e => e.Role is Role.Primary or Role.Rebuilding),
        _executors.Values.Count(e => e.Role == Role.Secondary),
        _executors.Values.Where(e => e.Role == Role.Secondary && e.PrimaryNode is not null)
            .GroupBy(e => e.PrimaryNode!).Select(g => new PairCount(g.Key, g.Count())).ToList());

    private void LoadChanged()
    {
        if (!Timers.IsTimerActive("publish-load")) Timers.StartSingleTimer("publish-load", new PublishLoad(), LoadCoalescing);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}
