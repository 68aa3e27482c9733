using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Pattern;
using Lockstep.Actors.FrontDoor;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Claims;
using Lockstep.Replication.FrontDoor;
using Lockstep.Replication.Primary;
using Lockstep.Replication.Stats;

namespace Lockstep.Actors.Executors;

/// <summary>
/// The live side of a VM on this node. It drives a <see cref="PrimaryLoop"/> and takes the
/// decisions the loop only reports facts for: it claims its generation before running, brings in
/// the secondary its coordinator places, and when that secondary is lost it claims the next
/// generation before any held output may leave (or stops, when another side got it first).
/// Phases (Become): Claiming → Alone → Attaching → Protected → (secondary lost) Claiming → Alone …;
/// Protected → HandingOver (a planned switchover) → stopped once the secondary took over, or Claiming when it was lost.
/// It also takes packets in, routes released outputs to the peers' clients, feeds the journal,
/// and announces itself when it goes live or claims a new generation (never periodically), so that every
/// gateway and front door routes to it without asking the coordinator; one that missed it asks (<see cref="LocatePrimary"/>).
/// </summary>
public sealed class PrimaryExecutor : ReceiveActor, IPrimaryFacts, IWithTimers
{
    // Facts from the loop (sent by its threads to this actor).
    private sealed record OutputReleased(MachineOutput Output);
    /// <summary>Released packets were dropped over <see cref="MaxReleasedInFlight"/>: their peers are in <see cref="_lostOutputs"/>.</summary>
    private sealed record ReleasedDropped;
    private sealed record SecondaryCaughtUp;
    /// <param name="SeenAt">When the loop saw it (a Stopwatch timestamp): the failover's steps are timed from it.</param>
    private sealed record SecondaryChannelLost(CloseReason Reason, string Detail, long SeenAt);
    private sealed record AttachFailedFact(string Detail);
    private sealed record VmEnded(VmState State, string Detail);
    private sealed record SegmentCut(LogSegment Segment, byte[] Encoded);
    /// <summary>A <see cref="VmLogJournal.Checkpoint"/> (full) or a <see cref="VmLogJournal.Increment"/>.</summary>
    private sealed record CheckpointTaken(object Checkpoint);
    private sealed record HashesCompared(ReplicaCheck Check);
    private sealed record HandedOverFact(ulong Position, double PauseMs);
    private sealed record HandoverFailedFact(string Detail);

    // Results of this actor's own decisions, and its timers.
    private sealed record ClaimAnswered(long Generation, bool Won);
    private sealed record ClaimNow(long Generation);
    private sealed record FlushLog;
    private sealed record HashCheckTimeout;
    private sealed record CoordinatorSilent(long Generation);
    private sealed record OwnSecondaryTimeout(Guid Attempt);
    private sealed record ForwardingOver;

    /// <summary>Longest a cut log segment waits before it goes to the journal (in a batch with those cut meanwhile).</summary>
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>How long a primary that handed over forwards what still comes to it (gateways learn the new one from its announcement).</summary>
    private static readonly TimeSpan ForwardingTime = TimeSpan.FromSeconds(2);

    /// <summary>Packets accepted while the guest is paused, at most; more are refused (Busy) until it runs again.</summary>
    public const int MaxQueuedWhilePaused = 1024;

    /// <summary>
    /// How long an Alone primary waits for its coordinator to place a secondary before placing one itself.
    /// The coordinator answers within milliseconds when it lives; it is silent when it died with the last
    /// primary and sharding has not re-created it yet (seconds), or cannot recover it (its journal locked).
    /// </summary>
    private static readonly TimeSpan CoordinatorWait = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SecondaryStartWait = TimeSpan.FromSeconds(3);
    /// <summary>How long the secondary executor may take to answer <see cref="HandoverComing"/> before the switchover is given up.</summary>
    private static readonly TimeSpan HandoverAnswerWait = TimeSpan.FromSeconds(2);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly PrimaryLaunch _launch;
    private readonly string _name;
    private readonly ClaimStore _claims;
    private readonly LockstepSettings _settings;
    private readonly IActorRef _coordinators;
    private readonly PrimaryLoop _loop;
    private readonly LatencyHistogram _journalWrites;
    private readonly IActorRef _self;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly string _node;
    private readonly string _owner;
    private readonly CancellationTokenSource _stopping = new();
    private readonly PeerRoutes _routes = new();
    private readonly LateDatagrams _lateDatagrams = new();
    private long _lateLoggedAt = long.MinValue / 2; // a Stopwatch timestamp: late copies are logged at most once a second

    /// <summary>Released outputs on their way to this actor's mailbox, at most (see <see cref="IPrimaryFacts.Released"/>).</summary>
    private const int MaxReleasedInFlight = 16_384;
    private long _releasedInFlight;
    private long _releasedDropped;
    // Peers whose released packets were dropped, with how many, until their clients are told; and whether that telling is queued (0/1).
    private readonly ConcurrentDictionary<uint, long> _lostOutputs = new();
    // What each front door (node, port) dropped of this VM's packets, as it last said.
    private readonly Dictionary<(string Node, int Port), long> _doorDrops = [];
    private int _lostOutputsQueued;
    private readonly List<FailoverRecord> _history;
    private readonly List<IActorRef> _hashCheckWaiters = [];
    private readonly LogBatcher _batch = new();
    private readonly ConsoleFeed _console;
    private IActorRef _journal = ActorRefs.Nobody;
    private int _journalStarts;
    // Durable (`vm create --durable`): outputs wait for the journal. Each cut goes to the journal at once; there one
    // write is under way at a time and what comes meanwhile goes in the next one (group commit, see VmLogJournal).
    private readonly bool _durable;
    private DateTime? _journalWriteSince;
    private long _flushedEnd;
    private readonly CommitCounts _commits = new();
    // After a journal restart the batches in between are lost: commits count again from the next full checkpoint.
    // So too at the start: a promoted secondary's predecessor may not have journaled the log up to where this one begins.
    private bool _journalGap = true;
    private string? _journalProblem;
    // A promoted durable primary's resends: what its predecessor may not have journaled waits for this side's first commit.
    private List<MachineOutput>? _resendOnCommit;

    private long _generation;
    private PrimaryPhase _phase = PrimaryPhase.Claiming;
    private bool _running;
    private (VmState State, string Detail)? _ended;
    // The secondary placed with this primary (attaching or protected), and its node as operators see it.
    private IActorRef? _secondary;
    private string? _secondaryNode;
    // Set between a loss and the claim that follows it.
    private (string Reason, bool Failure, IActorRef? Secondary)? _loss;
    // When the loop saw the last loss, and when its claim was won while no output has gone out since (Stopwatch timestamps): for the log's timing of a failover.
    private long _lossSeenAt;
    private long? _firstOutputAfterClaim;
    // A promoted secondary's first steps as the primary, timed for the log (Stopwatch timestamps; null once logged).
    private long? _promotedAt;
    private bool _promotedPacketSeen, _promotedCheckpointSeen;
    // A secondary this primary placed itself while its coordinator was silent.
    private (Guid Attempt, Address Node)? _ownPlacement;
    private readonly HashSet<Address> _badNodes = [];
    private ProtectionMode _protection;
    // An operator's operation under way: what to record in the history when it completes, and since when.
    private (string Reason, DateTime Since, PrimaryPhase CompletesAt)? _operation;
    private bool _paused;
    private int _queuedWhilePaused;
    // Packets that came while handing over, with their clients (see HandingOver).
    private readonly List<(SendPacket Packet, IActorRef Client)> _keptPackets = [];
    // The coordinator's own reference once known (from the launch or any message it sent), watched; null: the region.
    private IActorRef? _coordinator;

    public ITimerScheduler Timers { get; set; } = null!;

    public PrimaryExecutor(PrimaryLaunch launch, ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators)
    {
        _launch = launch;
        _name = launch.Vm.Name;
        _claims = claims;
        _settings = settings;
        _coordinators = coordinators;
        _self = Self;
        _generation = launch.Generation;
        _protection = launch.Protection;
        _coordinator = launch.Coordinator;
        _history = launch.History.ToList();
        _node = NodePicker.Describe(_cluster.SelfAddress);
        _owner = NodePicker.ClaimOwner(_cluster, Self.Path.Name);
        _console = new ConsoleFeed(_name, launch.Machine, settings.ConsoleKeptBytes);
        _durable = launch.Vm.Durable;
        _journalWrites = engine.JournalWrites;
        _loop = new PrimaryLoop(_name, launch.Machine, launch.FirstEntryIndex, launch.ReleasedSeq, settings, engine, this, launch.Filter, _durable);
    }

    public static Props Props(PrimaryLaunch launch, ClaimStore claims, LockstepSettings settings, ReplicationEngine engine, IActorRef coordinators) =>
        Akka.Actor.Props.Create(() => new PrimaryExecutor(launch, claims, settings, engine, coordinators));

    protected override void PreStart()
    {
        if (_coordinator is not null) Context.Watch(_coordinator);
        StartJournal();
        if (_launch.Claimed)
        {
            // A promoted secondary: its generation is won already, the machine goes live at once.
            _log.Info("{0}: live as the primary of generation {1}; announcing it to every node's front door", _name, _generation);
            _promotedAt = Stopwatch.GetTimestamp();
            StartRunning();
            BecomeAlone();
        }
        else
        {
            Become(Claiming);
            Claim(_generation);
        }
    }

    protected override void PostStop()
    {
        _stopping.Cancel();
        _loop.Kill();
    }

    // ---- Phases ----

    /// <summary>Waiting for the claim of <see cref="_generation"/> (first start) or of the next one (after a loss). Outputs are held.</summary>
    private void Claiming()
    {
        _phase = PrimaryPhase.Claiming;
        Receive<ClaimNow>(now => Claim(now.Generation));
        Receive<ClaimAnswered>(OnClaimAnswered);
        Receive<AttachSecondary>(RefuseAttach);
        Common();
    }

    /// <summary>Live and holding the generation, outputs leaving at once; the coordinator has been asked for a secondary.</summary>
    private void Alone()
    {
        _phase = PrimaryPhase.Alone;
        Receive<AttachSecondary>(attach =>
        {
            LearnCoordinator();
            if (attach.Generation != _generation || _ended is not null || _protection != ProtectionMode.On)
            {
                RefuseAttach(attach);
                return;
            }
            BeginAttach(attach.Host, attach.Port, attach.Token, attach.Node, attach.Secondary);
        });
        Receive<SecondaryPlaced>(placed =>
        {
            LearnCoordinator();
            if (placed.Generation == _generation) Timers.Cancel("coordinator-silent");
        });
        Receive<CoordinatorSilent>(silent =>
        {
            if (silent.Generation == _generation && _ownPlacement is null && _ended is null) PlaceOwnSecondary();
        });
        Receive<SecondaryUp>(up =>
        {
            if (_ownPlacement?.Attempt != up.Attempt || up.Generation != _generation)
            {
                up.Secondary.Tell(new RetireExecutor(_name));
                return;
            }
            Timers.Cancel("own-secondary");
            _ownPlacement = null;
            BeginAttach(up.Host, up.Port, up.Token, up.Node, up.Secondary);
        });
        Receive<SecondaryFailed>(failed =>
        {
            if (_ownPlacement is not { } own || own.Attempt != failed.Attempt) return;
            _badNodes.Add(own.Node);
            _ownPlacement = null;
            Timers.StartSingleTimer("coordinator-silent", new CoordinatorSilent(_generation), CoordinatorWait);
        });
        Receive<OwnSecondaryTimeout>(timeout =>
        {
            if (_ownPlacement is not { } own || own.Attempt != timeout.Attempt) return;
            _badNodes.Add(own.Node);
            _ownPlacement = null;
            PlaceOwnSecondary();
        });
        Common();
    }

    private void BeginAttach(string host, int port, byte[] token, string node, IActorRef secondary)
    {
        Timers.Cancel("coordinator-silent");
        _secondary = secondary;
        _secondaryNode = node;
        _log.Info("{0}: attaching the secondary on {1} (generation {2})", _name, node, _generation);
        _loop.Attach(host, port, AttachToken.Of(token));
        Become(Attaching);
        Report();
    }

    /// <summary>
    /// The coordinator is the one that places secondaries; this is the fallback for when it cannot
    /// answer (see <see cref="CoordinatorWait"/>). The secondary reports to this primary, which then
    /// tells the coordinator (when it is back) which secondary it has.
    /// </summary>
    private void PlaceOwnSecondary()
    {
        var node = NodeLoad.Get(Context.System).Pick(_cluster, _badNodes.Append(_cluster.SelfAddress), PlacementRole.Secondary, _name, _cluster.SelfAddress);
        if (node is null)
        {
            _badNodes.Clear();
            Timers.StartSingleTimer("coordinator-silent", new CoordinatorSilent(_generation), CoordinatorWait);
            return;
        }
        var attempt = Guid.NewGuid();
        _ownPlacement = (attempt, node);
        _log.Warning("{0}: no secondary placed by the coordinator within {1} s; placing one on {2} itself", _name, CoordinatorWait.TotalSeconds, NodePicker.Describe(node));
        NodePicker.ExecutorsAt(Context.System, node).Tell(
            new StartSecondary(_launch.Vm, _generation, attempt, _cluster.SelfAddress, _history.ToList(), ReportTo: Self, Coordinator: _coordinator));
        Timers.StartSingleTimer("own-secondary", new OwnSecondaryTimeout(attempt), SecondaryStartWait);
    }

    /// <summary>The secondary's RAM is on its way; the VM is alone until the pause, linked after it.</summary>
    private void Attaching()
    {
        _phase = PrimaryPhase.Attaching;
        Receive<SecondaryCaughtUp>(_ =>
        {
            var stats = _loop.Stats();
            _log.Info("{0} is Protected (generation {1}, secondary on {2}; RAM copied in {3:F1} ms, the snapshot acknowledged {4:F1} ms after the pause)",
                _name, _generation, _secondaryNode, stats.LastPrecopyMs, stats.LastSnapshotAckMs);
            _badNodes.Clear();
            CompleteOperation(PrimaryPhase.Protected);
            Become(Protected);
            Report();
        });
        Receive<AttachFailedFact>(failed =>
        {
            _log.Warning("{0}: the secondary on {1} did not come in: {2}", _name, _secondaryNode, failed.Detail);
            var secondary = _secondary;
            secondary?.Tell(new RetireExecutor(_name));
            _secondary = null;
            _secondaryNode = null;
            BecomeAlone(failed: secondary);
        });
        Receive<SecondaryChannelLost>(OnSecondaryLost);
        Receive<RestartSecondary>(RestartSecondary);
        Receive<AttachSecondary>(RefuseAttach);
        Common();
    }

    /// <summary>The secondary holds the state; outputs wait for its acks (the loop's gate releases them).</summary>
    private void Protected()
    {
        _phase = PrimaryPhase.Protected;
        Receive<SecondaryChannelLost>(OnSecondaryLost);
        Receive<RestartSecondary>(RestartSecondary);
        Receive<AttachSecondary>(RefuseAttach);
        Receive<HandOver>(handOver =>
        {
            LearnCoordinator();
            if (_paused)
            {
                // The packets queued while paused were never taken by the guest: they would be lost with this side.
                _history.Add(new FailoverRecord(DateTime.UtcNow, $"{handOver.Reason}: not done (the guest is paused)", 0, _node, _generation, HistoryKind.Operation));
                return;
            }
            _log.Info("{0}: {1}: handing over to the secondary on {2}", _name, handOver.Reason, _secondaryNode);
            _secondary?.Tell(new HandoverComing(_name, handOver.Reason, handOver.Since, _history.ToList()));
            Timers.StartSingleTimer("handover", new HandoverFailedFact("the secondary did not answer"), HandoverAnswerWait);
            Become(() => HandingOver(handOver, HandoverStage.Asking));
        });
        Receive<CheckReplicas>(_ =>
        {
            _hashCheckWaiters.Add(Sender);
            _loop.RequestHashCheck();
            Timers.StartSingleTimer("hash-check", new HashCheckTimeout(), TimeSpan.FromSeconds(10));
        });
        Common();
    }

    private enum HandoverStage
    {
        /// <summary>The secondary executor is told what the handover is for; its answer starts the loop's part.</summary>
        Asking,
        /// <summary>The loop stops the guest and waits for the secondary's acks.</summary>
        Draining,
        /// <summary>The secondary was told to take over.</summary>
        HandedOver,
    }

    /// <summary>
    /// A planned switchover: the loop stops the guest and, once the secondary holds everything and no output waits, tells
    /// it to take over. Still Protected to the coordinator until then. After that this side claims nothing unless the
    /// channel ends without the secondary's goodbye (it may have died before its claim): then as after any loss, the next
    /// generation decides who serves. While the secondary executor is being asked, the guest runs as before and takes
    /// packets as before (the loop's handover makes it take every packet that arrived before it stops); from the loop's
    /// part on they are kept: for the new primary once it took over, for this one's guest when it serves on.
    /// </summary>
    private void HandingOver(HandOver handOver, HandoverStage stage)
    {
        _phase = PrimaryPhase.Protected;
        Receive<SendPacket>(send =>
        {
            // Kept from the Draining stage on: a packet handed to the loop after it sent the handover frame would never be taken.
            if (stage == HandoverStage.Asking) OnSendPacket(send, Sender);
            else _keptPackets.Add((send, Sender));
        });
        Receive<HandoverExpected>(_ =>
        {
            if (stage != HandoverStage.Asking) return;
            Timers.Cancel("handover");
            FlushBatch(); // what is cut from here on stays out of the journal: the new primary starts it with a full checkpoint
            _loop.Handover();
            Become(() => HandingOver(handOver, HandoverStage.Draining));
        });
        Receive<HandedOverFact>(fact =>
        {
            _log.Info("{0}: handed over at instruction {1} after a pause of {2:F1} ms", _name, fact.Position, fact.PauseMs);
            Become(() => HandingOver(handOver, HandoverStage.HandedOver));
        });
        Receive<HandoverFailedFact>(failed =>
        {
            if (stage == HandoverStage.HandedOver) return;
            Timers.Cancel("handover");
            _log.Warning("{0}: {1} did not happen: {2}; serving on", _name, handOver.Reason, failed.Detail);
            _history.Add(new FailoverRecord(DateTime.UtcNow, $"{handOver.Reason}: not done ({failed.Detail})", 0, _node, _generation, HistoryKind.Operation,
                (DateTime.UtcNow - handOver.Since).TotalMilliseconds));
            Become(Protected);
            DeliverKeptPackets();
            Report(); // still Protected, same generation: the coordinator sees the switchover is over
        });
        Receive<SecondaryChannelLost>(lost =>
        {
            Timers.Cancel("handover");
            if (stage == HandoverStage.HandedOver && lost.Reason == CloseReason.PeerSaidGoodbye && _secondary is { } successor)
            {
                _log.Info("{0}: the secondary on {1} took over; this primary forwards what still comes to it for {2} s, then stops",
                    _name, _secondaryNode, ForwardingTime.TotalSeconds);
                _loop.Kill();
                _batch.Clear(); // the new primary's journal continues from its own checkpoint; a late write here would collide with it
                var host = Context.ActorSelection(successor.Path.Parent);
                foreach (var (packet, client) in _keptPackets) host.Tell(new ForwardToPrimary(_name, packet, client));
                _keptPackets.Clear();
                Timers.StartSingleTimer("forwarding", new ForwardingOver(), ForwardingTime);
                Become(() => Forwarding(host));
                return;
            }
            OnSecondaryLost(lost);
            DeliverKeptPackets();
        });
        Receive<ReplaceSecondary>(_ => { });
        Receive<HandOver>(_ => { });
        Receive<RestartSecondary>(_ => Sender.Tell(new ControlError($"VM '{_name}' is switching over right now; try again", ControlErrorKind.NotNow)));
        Receive<AttachSecondary>(RefuseAttach);
        Common();
    }

    /// <summary>
    /// Handed over: gateways that have not heard the new primary's announcement yet still send here. Their packets go on
    /// to the new primary's node instead of waiting for their clients' resends; requests are answered "ask again".
    /// </summary>
    private void Forwarding(ActorSelection host)
    {
        Receive<SendPacket>(send => host.Tell(new ForwardToPrimary(_name, send, Sender)));
        Receive<IControlRequest>(_ => Sender.Tell(new ControlError($"VM '{_name}' has just switched over; ask again", ControlErrorKind.Unavailable)));
        Receive<ForwardingOver>(_ => Context.Stop(Self));
        ReceiveAny(_ => { }); // facts of the stopped loop, the journal's, timers: nothing to do any more
    }

    private void DeliverKeptPackets()
    {
        foreach (var (packet, client) in _keptPackets) OnSendPacket(packet, client);
        _keptPackets.Clear();
    }

    // ---- Decisions ----

    private void Claim(long generation)
    {
        string name = _name;
        _claims.ClaimAsync(name, generation, _owner,
                e => _log.Warning("{0}: the claim of generation {1} waits for the claims storage: {2}", name, generation, e.Message),
                _stopping.Token)
            .PipeTo(_self, success: won => new ClaimAnswered(generation, won));
    }

    private void OnClaimAnswered(ClaimAnswered answer)
    {
        long wanted = _running ? _generation + 1 : _generation;
        if (answer.Generation != wanted) return;
        if (!answer.Won)
        {
            // Another side is live with this generation: this one must never release what it holds.
            _log.Warning("{0}: generation {1} was claimed by another side; this primary stops", _name, answer.Generation);
            _loop.Kill();
            Context.Stop(Self);
            return;
        }
        _generation = answer.Generation;
        if (!_running)
        {
            StartRunning();
            BecomeAlone();
            return;
        }
        // The held outputs leave first; the history and the log line after them.
        long claimedAt = Stopwatch.GetTimestamp();
        _loop.GoAlone();
        var loss = _loss;
        _loss = null;
        if (loss is { Failure: true } lost)
        {
            _history.Add(new FailoverRecord(DateTime.UtcNow, lost.Reason, 0, _node, _generation));
            _log.Info("{0}: claimed generation {1} {2:F1} ms after the loop saw the loss; going on alone, held outputs leave now",
                _name, _generation, Stopwatch.GetElapsedTime(_lossSeenAt, claimedAt).TotalMilliseconds);
            _firstOutputAfterClaim = claimedAt;
        }
        Publish();
        BecomeAlone(failed: loss?.Secondary);
    }

    /// <summary>
    /// Going on alone needs the next generation: whoever claims it first is the only live side. After
    /// mere silence the claim waits <see cref="LockstepSettings.ClaimDelayAfterSilence"/>: if this is a
    /// cut, the secondary is likely on the side that still reaches the cluster and the clients, and should win.
    /// </summary>
    private void OnSecondaryLost(SecondaryChannelLost lost)
    {
        bool orderly = lost.Reason is CloseReason.SaidGoodbye or CloseReason.PeerSaidGoodbye;
        string reason = orderly ? _operation?.Reason ?? "secondary restarted on request" : $"secondary lost: {lost.Detail}";
        _lossSeenAt = lost.SeenAt;
        // The claim first: the held outputs wait for it, the log line and the report do not (traced on a loaded node,
        // they took 0.8-3.2 ms before the claim was asked for, much of it compiling the log call's first use).
        if (lost.Reason.PeerIsGone()) Claim(_generation + 1);
        else Timers.StartSingleTimer("claim", new ClaimNow(_generation + 1), _settings.ClaimDelayAfterSilence);
        _log.Warning("{0}: {1}; claiming generation {2} before any held output leaves (the loop saw it {3:F1} ms ago)",
            _name, reason, _generation + 1, Stopwatch.GetElapsedTime(lost.SeenAt).TotalMilliseconds);
        _loss = (reason, !orderly, _secondary);
        _secondary = null;
        _secondaryNode = null;
        Become(Claiming);
        Report();
    }

    private void RestartSecondary(RestartSecondary _)
    {
        Sender.Tell(new ControlOk($"secondary of {_name} restarting"));
        _loop.Dismiss();
    }

    private void RefuseAttach(AttachSecondary attach)
    {
        _log.Info("{0}: not attaching a secondary of generation {1} now ({2} at generation {3})", _name, attach.Generation, _phase, _generation);
        attach.Secondary.Tell(new RetireExecutor(_name));
    }

    private void BecomeAlone(IActorRef? failed = null)
    {
        if (failed is not null) _badNodes.Add(AddressOf(failed));
        else if (_launch.LostNode is { } lost) _badNodes.Add(lost);
        _ownPlacement = null;
        Become(Alone);
        Report(failed);
        CompleteOperation(PrimaryPhase.Alone);
        if (_protection == ProtectionMode.On) Timers.StartSingleTimer("coordinator-silent", new CoordinatorSilent(_generation), CoordinatorWait);
    }

    /// <summary>
    /// The operator's protection setting, from the coordinator: off or suspended lets the secondary go in good
    /// order (the next generation is claimed as after any loss, since it might not have heard the goodbye);
    /// on asks for one. Recorded in the history once done.
    /// </summary>
    private void OnProtectionChanged(ProtectionChanged changed)
    {
        if (changed.Mode == _protection) return;
        _protection = changed.Mode;
        if (changed.Mode == ProtectionMode.On)
        {
            _operation = (changed.Reason, DateTime.UtcNow, PrimaryPhase.Protected);
            if (_phase == PrimaryPhase.Alone) BecomeAlone();
            return;
        }
        Timers.Cancel("coordinator-silent");
        _ownPlacement = null;
        _operation = (changed.Reason, DateTime.UtcNow, PrimaryPhase.Alone);
        if (_phase is PrimaryPhase.Attaching or PrimaryPhase.Protected) _loop.Dismiss();
        else CompleteOperation(_phase);
    }

    private void CompleteOperation(PrimaryPhase reached)
    {
        if (_operation is not { } operation || operation.CompletesAt != reached) return;
        _operation = null;
        var took = DateTime.UtcNow - operation.Since;
        _history.Add(new FailoverRecord(operation.Since, operation.Reason, 0, _node, _generation, HistoryKind.Operation, took.TotalMilliseconds));
        _log.Info("{0}: {1} (done in {2:F0} ms)", _name, operation.Reason, took.TotalMilliseconds);
    }

    private void StartRunning()
    {
        _running = true;
        _loop.Start();
        // Outputs whose release the old primary could not prove (console bytes among them are in the console feed already); a durable one's wait until this side's journal has committed.
        var resend = _launch.Resend.Where(o => o.Kind == OutputKind.Packet).ToList();
        if (_durable && resend.Count > 0) _resendOnCommit = resend;
        else foreach (var output in resend) Route(output);
        Publish();
    }

    /// <summary>Tells the coordinator this primary's phase (it places and replaces secondaries on that).</summary>
    private void Report(IActorRef? failed = null)
    {
        var phase = _ended is not null && _phase == PrimaryPhase.Alone ? PrimaryPhase.Ended : _phase;
        Address? avoid = failed is not null ? AddressOf(failed) : _launch.LostNode;
        var report = new PrimaryReport(_name, _generation, phase, _node, Self, _secondary, failed, avoid, _history.ToList());
        if (_coordinator is not null) _coordinator.Tell(report);
        else _coordinators.Tell(new ShardingEnvelope(_name, report));
    }

    /// <summary>The sender of a coordinator's message is the coordinator: reports go to it directly from now on.</summary>
    private void LearnCoordinator()
    {
        if (Sender.IsNobody() || Sender.Equals(_coordinator)) return;
        if (_coordinator is not null) Context.Unwatch(_coordinator);
        _coordinator = Context.Watch(Sender);
    }

    private Address AddressOf(IActorRef actor) => actor.Path.Address.HasGlobalScope ? actor.Path.Address : _cluster.SelfAddress;

    // ---- In every phase ----

    private void Common()
    {
        Receive<OutputReleased>(r =>
        {
            Interlocked.Decrement(ref _releasedInFlight);
            if (_promotedAt is { } promoted && r.Output.Kind == OutputKind.Packet)
            {
                _promotedAt = null;
                _log.Info("{0}: the first packet out of the new primary left {1:F1} ms after going live", _name, Stopwatch.GetElapsedTime(promoted).TotalMilliseconds);
            }
            if (_firstOutputAfterClaim is { } claimedAt)
            {
                _firstOutputAfterClaim = null;
                _log.Info("{0}: the first output after the loss left {1:F1} ms after the claim, {2:F1} ms after the loop saw the loss",
                    _name, Stopwatch.GetElapsedTime(claimedAt).TotalMilliseconds, Stopwatch.GetElapsedTime(_lossSeenAt).TotalMilliseconds);
            }
            Route(r.Output);
        });
        Receive<ReleasedDropped>(_ => TellLostOutputs());
        Receive<DoorDrops>(d => _doorDrops[(d.Node, d.Port)] = d.Total);
        Receive<SendPacket>(send => OnSendPacket(send, Sender));
        Receive<GetVmStatus>(_ => Sender.Tell(Status()));
        Receive<GetConsole>(request => Sender.Tell(_console.Read(request)));
        Receive<CheckReplicas>(_ => Sender.Tell(new ControlError($"VM '{_name}' has no secondary to compare with right now", ControlErrorKind.NotNow)));
        Receive<HashesCompared>(h =>
        {
            Timers.Cancel("hash-check");
            foreach (var waiter in _hashCheckWaiters) waiter.Tell(h.Check);
            _hashCheckWaiters.Clear();
        });
        Receive<HashCheckTimeout>(_ =>
        {
            // The check needs the guest to be running (it samples between boundaries); an idle guest gives no such point.
            foreach (var waiter in _hashCheckWaiters) waiter.Tell(new ControlError($"no replica check point of '{_name}' within 10 s (the guest may be idle)", ControlErrorKind.NotNow));
            _hashCheckWaiters.Clear();
        });
        Receive<RestartSecondary>(_ => Sender.Tell(new ControlOk($"VM '{_name}' has no secondary right now; one is being placed")));
        Receive<TestFailover>(_ =>
        {
            Sender.Tell(new ControlOk($"primary of {_name} on {_node} stopped; the secondary takes over"));
            _loop.Kill();
            Context.Stop(Self);
        });
        Receive<StopVm>(_ =>
        {
            _loop.Stop();
            DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(Topics.Primaries, new VmRemoved(_name)));
            Context.Stop(Self);
        });
        Receive<RetireExecutor>(_ =>
        {
            _loop.Stop();
            Context.Stop(Self);
        });
        Receive<ReportPlacement>(_ =>
        {
            LearnCoordinator();
            Report();
        });
        Receive<ProtectionChanged>(changed =>
        {
            LearnCoordinator();
            OnProtectionChanged(changed);
        });
        Receive<HandOver>(handOver => _log.Info("{0}: not handing over in phase {1}", _name, _phase));
        Receive<HandedOverFact>(_ => { });
        Receive<HandoverFailedFact>(_ => { });
        Receive<HandoverExpected>(_ => { });
        Receive<ReplaceSecondary>(replace =>
        {
            LearnCoordinator();
            if (_phase is not (PrimaryPhase.Attaching or PrimaryPhase.Protected)) return;
            _operation = (replace.Reason, DateTime.UtcNow, PrimaryPhase.Protected);
            _loop.Dismiss();
        });
        Receive<PauseVm>(_ =>
        {
            if (!_paused)
            {
                _paused = true;
                _queuedWhilePaused = 0;
                _loop.Pause();
                _history.Add(new FailoverRecord(DateTime.UtcNow, "guest paused by the operator", 0, _node, _generation, HistoryKind.Operation));
            }
            Sender.Tell(new ControlOk($"VM '{_name}' is paused"));
        });
        Receive<ResumeVm>(_ =>
        {
            if (_paused)
            {
                _paused = false;
                _loop.Resume();
                _history.Add(new FailoverRecord(DateTime.UtcNow, $"guest resumed by the operator ({_queuedWhilePaused} packets had queued)", 0, _node, _generation, HistoryKind.Operation));
            }
            Sender.Tell(new ControlOk($"VM '{_name}' runs"));
        });
        Receive<VmEnded>(ended =>
        {
            _ended = (ended.State, ended.Detail);
            _log.Info("{0} ended: {1} ({2})", _name, ended.State, ended.Detail);
            if (_phase == PrimaryPhase.Alone) Report();
        });
        // Facts that no longer apply in this phase (a late one from a secondary let go before).
        Receive<SecondaryCaughtUp>(_ => { });
        Receive<AttachFailedFact>(_ => { });
        Receive<SecondaryChannelLost>(_ => { });
        Receive<ClaimAnswered>(_ => { });
        Receive<ClaimNow>(_ => { });
        Receive<SecondaryUp>(up => up.Secondary.Tell(new RetireExecutor(_name)));
        Receive<SecondaryPlaced>(_ => { });
        Receive<CoordinatorSilent>(_ => { });
        Receive<OwnSecondaryTimeout>(_ => { });
        Receive<SecondaryFailed>(_ => { });
        Receive<LocatePrimary>(_ =>
        {
            if (_running) Sender.Tell(Announcement()); // not before its claim is won: it announces itself then
        });
        Receive<SegmentCut>(cut =>
        {
            // A durable VM's segments go as they are: its journal joins what comes during a write (group commit, PendingBatch),
            // and gathering here as well only copied each segment once more.
            if (_durable) Journal(new VmLogJournal.LogBatch(cut.Segment.FirstEntryIndex, cut.Segment.EndEntryIndex, cut.Segment.Horizon, cut.Encoded));
            else if (_batch.Add(cut.Segment, cut.Encoded)) FlushBatch();
            // Started by the first segment of a batch, not periodic: an idle VM's actor is never woken for nothing
            // (a 200 ms timer per primary was 5,000 messages a second for 1,000 idle VMs).
            else if (!Timers.IsTimerActive("flush-log")) Timers.StartSingleTimer("flush-log", new FlushLog(), FlushInterval);
        });
        Receive<FlushLog>(_ => FlushBatch());
        Receive<VmLogJournal.Committed>(OnJournalCommitted);
        Receive<VmLogJournal.Failed>(failed =>
        {
            _journalProblem = failed.Reason;
            if (_durable) _log.Warning("{0}: {1}; outputs are held until the journal writes again", _name, failed.Reason);
        });
        Receive<CheckpointTaken>(taken =>
        {
            if (_promotedAt is { } promoted && !_promotedCheckpointSeen)
            {
                _promotedCheckpointSeen = true;
                _log.Info("{0}: the first checkpoint as the new primary came {1:F1} ms after going live", _name, Stopwatch.GetElapsedTime(promoted).TotalMilliseconds);
            }
            FlushBatch(); // batches before the checkpoint must reach the journal before it
            _journal.Tell(taken.Checkpoint);
        });
        Receive<VmLogJournal.Ready>(_ =>
        {
            if (++_journalStarts == 1) return;
            // A journal that failed to write stopped and was started again by its backoff supervisor: the
            // batches in between are lost, so the log needs a fresh starting point.
            _log.Warning("{0}: the journal was restarted; taking a new checkpoint", _name);
            _batch.Clear();
            _journalWriteSince = null;
            _journalGap = true;
            _loop.RequestCheckpoint();
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_coordinator))
            {
                _coordinator = null; // moved or gone: the region finds the next one
                return;
            }
            _routes.Forget(t.ActorRef);
        });
        Receive<SubscribeAck>(_ => { });
        Receive<PeerClosed>(closed => _routes.Forget(closed.Peer, Sender));
    }

    /// <summary>The journal writer, restarted with backoff when storage fails (it stops on a failed write).</summary>
    private void StartJournal()
    {
        var options = Backoff.OnStop(VmLogJournal.Props(_name, Self, _journalWrites), "journal", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2, -1);
        _journal = Context.ActorOf(BackoffSupervisor.Props(options), "journal-supervisor");
    }

    /// <summary>Sends what was gathered since the last flush to the journal.</summary>
    private void FlushBatch()
    {
        if (_batch.Take() is { } batch) Journal(batch);
    }

    /// <summary>To the journal (a durable VM: its commit comes back).</summary>
    private void Journal(VmLogJournal.LogBatch batch)
    {
        _journal.Tell(batch);
        _flushedEnd = batch.EndEntry;
        if (_durable) _journalWriteSince ??= DateTime.UtcNow;
    }

    /// <summary>The journal committed the log before <see cref="VmLogJournal.Committed.Entries"/>: a fact for the loop's gate.</summary>
    private void OnJournalCommitted(VmLogJournal.Committed committed)
    {
        if (!committed.Checkpoint)
        {
            _journalWriteSince = committed.Entries >= _flushedEnd ? null : DateTime.UtcNow;
            _commits.Add(committed);
        }
        _journalProblem = null;
        if (committed.Checkpoint) _journalGap = false;
        if (!_durable) return;
        if (!_journalGap) _loop.Journaled(committed.Entries);
        if (_resendOnCommit is { } resend && !_journalGap)
        {
            _resendOnCommit = null;
            foreach (var output in resend) Route(output);
        }
    }

    private string JournalDetail() => JournalStatus() switch
    {
        null => "",
        { Problem: { } problem } journal => $"; durable: {journal.HeldOutputs} outputs held, the journal is failing ({problem})",
        { WriteWaitingMs: > 1000 } journal => $"; durable: {journal.HeldOutputs} outputs held, a journal write has waited {journal.WriteWaitingMs / 1000:F1} s",
        var journal => $"; durable: the journal holds the log up to entry {journal.CommittedEntries}",
    };

    /// <summary>Where a durable VM's journal stands, for its status; null when not durable.</summary>
    private DurableJournal? JournalStatus()
    {
        if (!_durable) return null;
        var (held, entries) = _loop.JournalState();
        double waiting = _journalWriteSince is { } since ? (DateTime.UtcNow - since).TotalMilliseconds : 0;
        return new DurableJournal(entries, held, waiting, _journalProblem)
            { Commits = _commits.Commits, Parts = _commits.Parts, WaitedMs = _commits.WaitedMs, WriteMs = _commits.WriteMs };
    }

    /// <summary>The push that front doors resend their in-flight packets on after a takeover: it must go out at once, not on a tick.</summary>
    private void Publish()
    {
        FrontDoorPush.TellEveryNode(Context.System, Announcement(), Self);
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(Topics.Primaries, Announcement()));
    }

    private PrimaryAnnounce Announcement() => new(_name, _generation, Self, _node);

    private void OnSendPacket(SendPacket send, IActorRef sender)
    {
        if (_promotedAt is { } promoted && !_promotedPacketSeen)
        {
            _promotedPacketSeen = true;
            _log.Info("{0}: the first packet to the new primary came {1:F1} ms after going live", _name, Stopwatch.GetElapsedTime(promoted).TotalMilliseconds);
        }
        if (_paused && ++_queuedWhilePaused > MaxQueuedWhilePaused)
        {
            sender.Tell(new ControlError($"VM '{_name}' is paused and {MaxQueuedWhilePaused} packets wait already; this one was not taken", ControlErrorKind.Busy));
            return;
        }
        if (PeerIds.IsDatagramPeer(send.Peer) && !_lateDatagrams.Admit(send.Peer, send.ArrivedAt))
        {
            if (!sender.IsNobody()) sender.Tell(new ControlOk("dropped: late")); // taken, as far as the door counts; the route stays where the client is
            if (Stopwatch.GetElapsedTime(_lateLoggedAt) >= TimeSpan.FromSeconds(1))
            {
                _lateLoggedAt = Stopwatch.GetTimestamp();
                _log.Info("{0}: dropped a datagram of peer {1:x} that arrived {2:F0} ms ago: {3} requests of its client that arrived later were taken before it, the ids the guest remembers ({4} late copies dropped so far)",
                    _name, send.Peer, TimeSpan.FromTicks(DateTime.UtcNow.Ticks - send.ArrivedAt).TotalMilliseconds, LateDatagrams.Window, _lateDatagrams.Dropped);
            }
            return;
        }
        if (!sender.IsNobody())
        {
            sender.Tell(new ControlOk("accepted"));
            if (_routes.Register(send.Peer, sender)) Context.Watch(sender);
        }
        if (send.Tag is { } tag)
        {
            if (!_loop.Deliver(send.Peer, send.Data, tag.Session, tag.Ordinal, tag.AnsweredBelow))
                _log.Info("{0}: dropped request #{1} of client session {2:x}: a late copy its client saw answered, or more than the guest's input queue holds",
                    _name, tag.Ordinal, tag.Session);
        }
        else _loop.Deliver(send.Peer, send.Data);
    }

    /// <summary>A client waiting for an answer that was dropped would wait forever: each such peer's client is told (a front door closes that TCP connection).</summary>
    private void TellLostOutputs()
    {
        Volatile.Write(ref _lostOutputsQueued, 0); // drops from here on queue a new message
        long total = 0;
        foreach (uint peer in _lostOutputs.Keys)
        {
            if (!_lostOutputs.TryRemove(peer, out long count)) continue;
            total += count;
            _routes.Notify(peer, new OutputsLost(_name, peer, count));
        }
        if (total > 0)
            _log.Warning("{0}: {1} released packets were dropped on their way to their clients (this node fell behind the guest by more than {2}); their clients are told",
                _name, total, MaxReleasedInFlight);
    }

    private void Route(MachineOutput output)
    {
        if (output.Kind != OutputKind.Packet)
        {
            _console.Released(output);
            return;
        }
        _routes.Route(new VmPacket(_name, output.Peer, output.Seq, output.Data));
    }

    private VmStatus Status()
    {
        var stats = _loop.Stats();
        var state = _ended?.State ?? (_phase, _protection) switch
        {
            (PrimaryPhase.Protected, _) => VmState.Protected,
            (PrimaryPhase.Claiming, _) when !_running => VmState.Starting,
            (_, ProtectionMode.Off) => VmState.Unprotected,
            (_, ProtectionMode.Suspended) => VmState.Suspended,
            _ => VmState.NotProtected,
        };
        return new VmStatus(_name, state, _generation, _node, _phase == PrimaryPhase.Protected ? _secondaryNode : null,
            stats.LagMs, stats.Instructions, stats.Outputs, stats.LogBytesPerSecond, _history.ToList(),
            (_ended?.Detail ?? $"{_phase}{(_paused ? ", guest paused" : "")}; re-protection pause {stats.LastReprotectPauseMs:F1} ms") + JournalDetail(),
            new VmFigures(stats.LogBytesShipped, stats.OutputsReleased, stats.LastReprotectPauseMs, _paused,
                stats.PacketsDropped, stats.HeldOutputs, Interlocked.Read(ref _releasedDropped) + _routes.Dropped, stats.OutputHold, stats.LastReprotectMs)
            { Journal = JournalStatus(), DoorDropped = _doorDrops.Values.Sum() });
    }

    // ---- IPrimaryFacts: called on the loop's threads, handed on as messages ----

    void IPrimaryFacts.Released(MachineOutput output)
    {
        // The gate releases at the guest's pace, which no mailbox can be trusted to keep: beyond a bound, drop and count.
        if (Interlocked.Increment(ref _releasedInFlight) > MaxReleasedInFlight)
        {
            Interlocked.Decrement(ref _releasedInFlight);
            Interlocked.Increment(ref _releasedDropped);
            if (output.Kind != OutputKind.Packet) return;
            _lostOutputs.AddOrUpdate(output.Peer, 1, (_, count) => count + 1);
            // One message however many are dropped: the mailbox is what fell behind.
            if (Interlocked.Exchange(ref _lostOutputsQueued, 1) == 0) _self.Tell(new ReleasedDropped());
            return;
        }
        _self.Tell(new OutputReleased(output));
    }
    void IPrimaryFacts.SecondaryInSync() => _self.Tell(new SecondaryCaughtUp());
    void IPrimaryFacts.SecondaryLost(CloseReason reason, string detail) => _self.Tell(new SecondaryChannelLost(reason, detail, Stopwatch.GetTimestamp()));
    void IPrimaryFacts.AttachFailed(string detail) => _self.Tell(new AttachFailedFact(detail));
    void IPrimaryFacts.Ended(VmState state, string detail) => _self.Tell(new VmEnded(state, detail));
    void IPrimaryFacts.LogCut(LogSegment segment, byte[] encoded) => _self.Tell(new SegmentCut(segment, encoded));
    void IPrimaryFacts.Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) =>
        _self.Tell(new CheckpointTaken(full
            ? new VmLogJournal.Checkpoint(entryIndex, position, snapshot)
            : new VmLogJournal.Increment(entryIndex, position, snapshot)));
    void IPrimaryFacts.HandedOver(ulong position, double pauseMs) => _self.Tell(new HandedOverFact(position, pauseMs));
    void IPrimaryFacts.HandoverFailed(string detail) => _self.Tell(new HandoverFailedFact(detail));
    void IPrimaryFacts.HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) =>
        _self.Tell(new HashesCompared(new ReplicaCheck(_name, position, primaryHash, secondaryHash)));
}
