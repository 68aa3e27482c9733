using Akka.Actor;
using Akka.Event;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;

namespace Lockstep.Actors.Executors;

/// <summary>
/// One per node, at /user/executors: the parent of every primary and secondary run on this node.
/// Executors live here, not under the coordinator, so they survive the loss of the coordinator's node.
/// </summary>
public sealed class ExecutorHost : ReceiveActor
{
    public sealed record PromoteHere(string Name, uint MemorySize, Machine Machine, long Generation, long NextEntryIndex,
        ulong ReleasedSeq, IReadOnlyList<MachineOutput> Unreleased, IReadOnlyList<FailoverRecord> History);

    private readonly ILoggingAdapter _log = Context.GetLogger();

    public ExecutorHost(ClaimStore claims, LockstepSettings settings)
    {
        Receive<StartPrimary>(start =>
        {
            var machine = new Machine(start.MemorySize);
            try
            {
                ElfLoader.Load(machine, start.Image);
            }
            catch (ImageException e)
            {
                _log.Error("cannot start {0}: {1}", start.Name, e.Message);
                return;
            }
            Spawn($"primary-{start.Name}-g{start.Generation}", PrimaryExecutor.Props(
                new PrimaryExecutor.Launch(start.Name, start.MemorySize, machine, start.Generation, false, 0, 0, [], start.History),
                claims, settings));
        });
        Receive<PromoteHere>(p => Spawn($"primary-{p.Name}-g{p.Generation}", PrimaryExecutor.Props(
            new PrimaryExecutor.Launch(p.Name, p.MemorySize, p.Machine, p.Generation, true, p.NextEntryIndex, p.ReleasedSeq, p.Unreleased, p.History),
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
