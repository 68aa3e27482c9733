using Akka.Actor;
using Akka.Event;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;

namespace Lockstep.Actors.Executors;

/// <summary>
/// One per node, at /user/executors: the parent of every primary and secondary run on this node.
/// Executors live here, not under the coordinator, so they survive the loss of the coordinator's node.
/// </summary>
public sealed class ExecutorHost : ReceiveActor
{
    /// <summary>A rebuilt (or freshly booted) machine, ready to run live once its generation is claimed.</summary>
    public sealed record LaunchPrimary(string Name, uint MemorySize, Machine Machine, long Generation, long NextEntryIndex,
        ulong ReleasedSeq, IReadOnlyList<MachineOutput> Resend, IReadOnlyList<FailoverRecord> History);

    public sealed record PromoteHere(string Name, uint MemorySize, Machine Machine, long Generation, long NextEntryIndex,
        ulong ReleasedSeq, IReadOnlyList<MachineOutput> Unreleased, DeliveryFilter Filter, IReadOnlyList<FailoverRecord> History, Address LostNode);

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ExecutorHost(ClaimStore claims, LockstepSettings settings)
    {
        Receive<StartPrimary>(start => Spawn($"rebuild-{start.Name}-g{start.Generation}", VmRebuilder.Props(start)));
        Receive<LaunchPrimary>(l => Spawn($"primary-{l.Name}-g{l.Generation}", PrimaryExecutor.Props(
            new PrimaryExecutor.Launch(l.Name, l.MemorySize, l.Machine, l.Generation, false, l.NextEntryIndex, l.ReleasedSeq, l.Resend, l.History),
            claims, settings)));
        Receive<PromoteHere>(p => Spawn($"primary-{p.Name}-g{p.Generation}", PrimaryExecutor.Props(
            new PrimaryExecutor.Launch(p.Name, p.MemorySize, p.Machine, p.Generation, true, p.NextEntryIndex, p.ReleasedSeq, p.Unreleased, p.History)
            {
                AvoidNodes = [p.LostNode],
                Filter = p.Filter,
            },
            claims, settings)));
        Receive<StartSecondary>(start =>
            Spawn($"secondary-{start.Name}-g{start.Generation}-{Guid.NewGuid():N}", SecondaryExecutor.Props(start, claims, settings)));
    }

    private void Spawn(string name, Props props)
    {
        if (!Context.Child(name).IsNobody())
        {
            _log.Warning("executor {0} already runs here", name);
            return;
        }
        Context.ActorOf(props, name);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);
}
