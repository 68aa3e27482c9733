using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Event;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Claims;
using Lockstep.Replication.Links;
using Lockstep.Replication.Secondary;

namespace Lockstep.Actors.Executors;

/// <summary>
/// The replaying side of a VM on this node. It drives a <see cref="ReplayLoop"/> (which admits
/// only the primary holding this attach's one-time token) and takes the decision the loop only
/// reports the facts for: when the primary is lost, it claims the next generation and, if it wins,
/// has its executor host run the machine live as the new primary.
/// A planned switchover comes the same way, without a loss: the primary hands over at a position, this side claims the next
/// generation, confirms to the old primary (which then stops without claiming) and goes live with nothing to resend.
/// Phases (Become): Waiting (no snapshot yet) → Replaying → TakingOver.
/// </summary>
public sealed class SecondaryExecutor : ReceiveActor, ISecondaryFacts
{
    private sealed record CaughtUp;
    private sealed record PrimaryLostFact(CloseReason Reason, string Detail, Takeover Takeover);
    private sealed record HandedOverFact(Takeover Takeover);
    private sealed record EndedFact(CloseReason? Reason, string Detail);
    private sealed record RefusedFact(CloseReason Reason, string Detail);
    private sealed record ClaimAnswered(bool Won);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly StartSecondary _start;
    private readonly string _name;
    private readonly ClaimStore _claims;
    private readonly IActorRef _coordinators;
    private readonly AttachToken _token = AttachToken.New();
    private readonly ReplayLoop _loop;
    private readonly NodeLinks _links;
    private readonly IActorRef _self;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly CancellationTokenSource _stopping = new();
    // What the primary said it hands over for (it tells before it starts); recorded in the history once live.
    private HandoverComing? _handoverComing;

    public SecondaryExecutor(StartSecondary start, ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators)
    {
        _start = start;
        _name = start.Vm.Name;
        _claims = claims;
        _coordinators = coordinators;
        _self = Self;
        _links = engine.Links;
        _loop = new ReplayLoop(_name, start.Vm.MemorySize, engine, _token, settings, this);
        Become(Waiting);
    }

    public static Props Props(StartSecondary start, ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators) =>
        Akka.Actor.Props.Create(() => new SecondaryExecutor(start, claims, settings, engine, coordinators));

    // Where the node's links listen: the primary connects there (to its link, if this node has one already).
    private string Host => _links.Host;
    private string Node => NodePicker.Describe(_cluster.SelfAddress);

    protected override void PreStart()
    {
        int port;
        try
        {
            port = _loop.Start();
        }
        catch (ObjectDisposedException e) // the node's links are closed: the node is stopping
        {
            ReportToPlacer(new SecondaryFailed(_name, _start.Attempt, e.Message));
            Context.Stop(Self);
            return;
        }
        ReportToPlacer(new SecondaryUp(_name, _start.Generation, _start.Attempt, Host, port, _token.Bytes, Node, Self));
    }

    /// <summary>To whoever placed this secondary: its coordinator (wherever sharding has it), or a primary that placed it itself.</summary>
    private void ReportToPlacer(object message)
    {
        if ((_start.ReportTo ?? _start.Coordinator) is { } placer) placer.Tell(message);
        else _coordinators.Tell(new ShardingEnvelope(_name, message));
    }

    protected override void PostStop()
    {
        _stopping.Cancel();
        _loop.Stop();
    }

    /// <summary>Listening; the primary connects and sends its RAM, then the snapshot that completes it.</summary>
    private void Waiting()
    {
        Receive<CaughtUp>(_ => Become(Replaying));
        Common();
    }

    /// <summary>Holding the state and replaying the log a short distance behind the primary.</summary>
    private void Replaying()
    {
        // The claim before the log line: the takeover waits for the claim, not for the line (whose first use compiles code).
        Receive<PrimaryLostFact>(lost =>
        {
            ClaimNext();
            Become(() => TakingOver(lost.Takeover, lost.Detail));
            _log.Warning("{0}: primary lost ({1}); claiming generation {2}", _name, lost.Detail, _start.Generation + 1);
        });
        Receive<HandedOverFact>(handedOver =>
        {
            ClaimNext();
            Become(() => TakingOver(handedOver.Takeover, lostDetail: null));
            _log.Info("{0}: the primary handed over; claiming generation {1}", _name, _start.Generation + 1);
        });
        Common();
    }

    private void ClaimNext()
    {
        string name = _name;
        long generation = _start.Generation + 1;
        _claims.ClaimAsync(name, generation, NodePicker.ClaimOwner(_cluster, Self.Path.Name),
                e => _log.Warning("{0}: takeover waits for the claims storage: {1}", name, e.Message), _stopping.Token)
            .PipeTo(_self, success: won => new ClaimAnswered(won));
    }

    /// <summary>
    /// The machine is this actor's (the loop has ended, or holds it after a handover): it goes live only with the next
    /// generation claimed. <paramref name="lostDetail"/>: why the primary was lost; null for a handover.
    /// </summary>
    private void TakingOver(Takeover takeover, string? lostDetail)
    {
        Receive<ClaimAnswered>(answer =>
        {
            long generation = _start.Generation + 1;
            string what = lostDetail is null ? "the primary handed over" : $"primary lost ({lostDetail})";
            if (!answer.Won)
            {
                _log.Warning("{0}: {1} but generation {2} was claimed by another side; this secondary stops", _name, what, generation);
                Context.Stop(Self);
                return;
            }
            double gapMs = takeover.SilentMs + System.Diagnostics.Stopwatch.GetElapsedTime(takeover.DetectedAt).TotalMilliseconds;
            List<FailoverRecord> history;
            if (lostDetail is null)
            {
                var coming = _handoverComing ?? new HandoverComing(_name, $"primary switched over to {Node}", DateTime.UtcNow, _start.History);
                history = [.. coming.History, new FailoverRecord(coming.Since, coming.Reason, gapMs, Node, generation, HistoryKind.Operation,
                    (DateTime.UtcNow - coming.Since).TotalMilliseconds)];
            }
            else history = [.. _start.History, new FailoverRecord(DateTime.UtcNow, $"primary lost: {lostDetail}", gapMs, Node, generation)];
            Context.Parent.Tell(new PrimaryLaunch(_start.Vm, takeover.Machine, generation, true, takeover.NextEntryIndex,
                takeover.ReleasedSeq, takeover.Unreleased, takeover.Filter, history,
                lostDetail is null ? null : _start.PrimaryNode) { Coordinator = _start.Coordinator });
            // After the launch is queued at the host: the old primary, told now, stops without claiming and sends the
            // packets it kept to the host, which has the new primary by then.
            if (lostDetail is null) _loop.ConfirmTakeover();
            _log.Warning("{0}: {1}; this secondary on {2} is live as generation {3} after {4:F0} ms", _name, what, Node, generation, gapMs);
            Context.Stop(Self);
        });
        Receive<RetireExecutor>(_ => _log.Info("{0}: not retiring while taking over", _name));
        Common();
    }

    private void Common()
    {
        Receive<EndedFact>(ended =>
        {
            _log.Info("secondary of {0} ends: {1}", _name, ended.Detail);
            Context.Stop(Self);
        });
        Receive<RefusedFact>(refused =>
            _log.Warning("{0}: refused a connection to its lockstep port that was not its primary's ({1}: {2})", _name, refused.Reason, refused.Detail));
        Receive<RetireExecutor>(_ => Context.Stop(Self));
        Receive<HandoverComing>(coming =>
        {
            _handoverComing = coming;
            Sender.Tell(new HandoverExpected(_name));
        });
        Receive<CaughtUp>(_ => { });
    }

    void ISecondaryFacts.InSync() => _self.Tell(new CaughtUp());
    void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) => _self.Tell(new PrimaryLostFact(reason, detail, takeover));
    void ISecondaryFacts.HandedOver(Takeover takeover) => _self.Tell(new HandedOverFact(takeover));
    void ISecondaryFacts.Ended(CloseReason? reason, string detail) => _self.Tell(new EndedFact(reason, detail));
    void ISecondaryFacts.Refused(CloseReason reason, string detail) => _self.Tell(new RefusedFact(reason, detail));
}
