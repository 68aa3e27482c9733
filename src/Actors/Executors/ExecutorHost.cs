using Akka.Actor;
using Akka.Event;
using Lockstep.Actors.Protocol;
using Lockstep.Replication;
using Lockstep.Replication.Claims;

namespace Lockstep.Actors.Executors;

/// <summary>
/// One per node, at /user/executors: the parent of every primary and secondary run on this node.
/// Executors live here, not under the coordinator, so they survive the loss of the coordinator's
/// node; the coordinator supervises them across nodes by DeathWatch and placement, and finds them
/// again after it is re-created elsewhere (<see cref="FindExecutors"/>).
/// </summary>
public sealed class ExecutorHost : ReceiveActor
{
    private enum Role { Primary, Secondary }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<IActorRef, (string Vm, Role Role)> _executors = [];

    /// <param name="scheduler">The node's VM threads, shared by every primary and secondary here.</param>
    /// <param name="coordinators">The shard region of the VM coordinators (messages in a ShardingEnvelope by VM name).</param>
    /// <param name="engine">The node's replication engine, shared by every executor here.</param>
    public ExecutorHost(ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators)
    {
        Receive<StartPrimary>(start => Spawn($"rebuild-{start.Vm.Name}-g{start.Generation}", VmRebuilder.Props(start), null));
        Receive<PrimaryLaunch>(launch => Spawn($"primary-{launch.Vm.Name}-g{launch.Generation}",
            PrimaryExecutor.Props(launch, claims, settings, engine, coordinators), (launch.Vm.Name, Role.Primary)));
        Receive<StartSecondary>(start => Spawn($"secondary-{start.Vm.Name}-g{start.Generation}-{start.Attempt:N}",
            SecondaryExecutor.Props(start, claims, settings, engine, coordinators), (start.Vm.Name, Role.Secondary)));
        Receive<FindExecutors>(find =>
        {
            var mine = _executors.Where(e => e.Value.Vm == find.Name).ToList();
            Sender.Tell(new ExecutorsFound(find.Name,
                mine.Where(e => e.Value.Role == Role.Primary).Select(e => e.Key).ToList(),
                mine.Where(e => e.Value.Role == Role.Secondary).Select(e => e.Key).ToList()));
        });
        Receive<Terminated>(t => _executors.Remove(t.ActorRef));
    }

    public static Props Props(ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators) =>
        Akka.Actor.Props.Create(() => new ExecutorHost(claims, settings, engine, coordinators));

    private void Spawn(string name, Props props, (string Vm, Role Role)? executor)
    {
        if (!Context.Child(name).IsNobody())
        {
            _log.Warning("executor {0} already runs here", name);
            return;
        }
        var child = Context.ActorOf(props, name);
        if (executor is not { } known) return;
        _executors[child] = known;
        Context.Watch(child);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}
