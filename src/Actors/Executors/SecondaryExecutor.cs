using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;

namespace Lockstep.Actors.Executors;

/// <summary>
/// The replaying side of a VM on this node. It opens a listening socket for the primary's log
/// channel, tells the primary executor where it is, and, if it wins a takeover, asks its
/// executor host to run the machine live as the new primary.
/// </summary>
public sealed class SecondaryExecutor : ReceiveActor, ISecondaryEvents
{
    private sealed record PromotedMessage(Machine Machine, long Generation, long NextEntryIndex, ulong ReleasedSeq,
        IReadOnlyList<MachineOutput> Unreleased, DeliveryFilter Filter, string Reason, double GapMs);
    private sealed record EndedMessage(string Reason);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StartSecondary _start;
    private readonly SecondaryRuntime _runtime;
    private readonly IActorRef _self;
    private readonly Cluster _cluster = Cluster.Get(Context.System);

    public SecondaryExecutor(StartSecondary start, ClaimStore claims, LockstepSettings settings)
    {
        _start = start;
        _self = Self;
        string host = _cluster.SelfAddress.Host ?? "127.0.0.1";
        _runtime = new SecondaryRuntime(start.Name, start.MemorySize, start.Generation, host, settings, claims,
            NodePicker.ClaimOwner(_cluster, Self.Path.Name), this);

        Receive<PromotedMessage>(p =>
        {
            string node = NodePicker.Describe(_cluster.SelfAddress);
            _log.Warning("{0}: primary lost ({1}); this secondary on {2} is live as generation {3} after {4:F0} ms",
                start.Name, p.Reason, node, p.Generation, p.GapMs);
            var history = start.History.Append(new FailoverRecord(DateTime.UtcNow, p.Reason, p.GapMs, node, p.Generation)).ToList();
            Context.Parent.Tell(new ExecutorHost.PromoteHere(start.Name, start.MemorySize, p.Machine, p.Generation,
                p.NextEntryIndex, p.ReleasedSeq, p.Unreleased, p.Filter, history, start.Primary.Path.Address));
            Context.Stop(Self);
        });
        Receive<EndedMessage>(e =>
        {
            _log.Info("secondary of {0} ends: {1}", start.Name, e.Reason);
            Context.Stop(Self);
        });
    }

    public static Props Props(StartSecondary start, ClaimStore claims, LockstepSettings settings) =>
        Akka.Actor.Props.Create(() => new SecondaryExecutor(start, claims, settings));

    protected override void PreStart()
    {
        try
        {
            int port = _runtime.Start();
            _start.Primary.Tell(new SecondaryListening(_start.Name, _start.Generation, _cluster.SelfAddress.Host ?? "127.0.0.1",
                port, NodePicker.Describe(_cluster.SelfAddress), Self));
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException)
        {
            _start.Primary.Tell(new SecondaryFailed(_start.Name, e.Message));
            Context.Stop(Self);
        }
    }

    protected override void PostStop() => _runtime.Stop();

    void ISecondaryEvents.Promoted(Machine machine, long generation, long nextEntryIndex, ulong releasedSeq,
        IReadOnlyList<MachineOutput> unreleased, DeliveryFilter filter, string reason, double gapMs) =>
        _self.Tell(new PromotedMessage(machine, generation, nextEntryIndex, releasedSeq, unreleased, filter, reason, gapMs));

    void ISecondaryEvents.Ended(string reason) => _self.Tell(new EndedMessage(reason));
    void ISecondaryEvents.Warning(string message) => _log.Warning(message);
}
