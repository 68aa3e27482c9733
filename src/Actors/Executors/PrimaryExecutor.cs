using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;

namespace Lockstep.Actors.Executors;

/// <summary>
/// The live side of a VM on this node: owns the <see cref="PrimaryRuntime"/>, takes packets in,
/// routes released outputs to the peers' clients, finds itself a secondary on another node, and
/// announces itself so that every gateway routes to it without asking the coordinator.
/// </summary>
public sealed class PrimaryExecutor : ReceiveActor, IPrimaryEvents, IWithTimers
{
    public sealed record Launch(string Name, uint MemorySize, Machine Machine, long Generation, bool Claimed, long FirstEntryIndex,
        ulong ReleasedSeq, IReadOnlyList<MachineOutput> Resend, IReadOnlyList<FailoverRecord> History)
    {
        /// <summary>Nodes not to put a secondary on at first (the node of a primary that was just lost).</summary>
        public IReadOnlyList<Address> AvoidNodes { get; init; } = [];

        /// <summary>The delivery marks a promoted secondary brings along, so late copies stay out after a failover.</summary>
        public DeliveryFilter? Filter { get; init; }
    }

    private sealed record ReleasedOutput(MachineOutput Output);
    private sealed record SecondaryNeeded(string Reason, bool AfterLoss = false);
    private sealed record BecameProtected;
    private sealed record ClaimLost(long Generation);
    private sealed record RuntimeEnded(string State, string Detail);
    private sealed record Announce;
    private sealed record SegmentCut(LogSegment Segment, byte[] Encoded);
    private sealed record CheckpointTaken(VmLogJournal.Checkpoint Checkpoint);
    private sealed record FlushLog;
    private sealed record SecondaryTimeout(Address Node);
    private sealed record HashesCompared(ReplicaCheck Check);
    private sealed record HashCheckTimeout;
    private sealed record RestartJournal;

    /// <summary>How long a node may take to answer StartSecondary before another node is tried.</summary>
    private static readonly TimeSpan SecondaryStartTimeout = TimeSpan.FromSeconds(3);

    private const int MaxBufferedPerPeer = 1024;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Launch _launch;
    private readonly PrimaryRuntime _runtime;
    private readonly IActorRef _self;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private readonly Dictionary<uint, IActorRef> _clients = [];
    private readonly Dictionary<uint, Queue<VmPacket>> _undelivered = [];
    private readonly List<FailoverRecord> _history;
    private readonly HashSet<Address> _badSecondaryNodes = [];
    private string? _secondaryNode;
    private int _placementSeed;
    private readonly MemoryStream _logBatch = new();
    private long _batchFirst = -1, _batchEnd;
    private ulong _batchHorizon;
    private IActorRef _journal = ActorRefs.Nobody;
    private int _journalStarts;
    private static readonly TimeSpan JournalRestartDelay = TimeSpan.FromSeconds(1);
    private readonly List<IActorRef> _hashCheckWaiters = [];
    public ITimerScheduler Timers { get; set; } = null!;

    public PrimaryExecutor(Launch launch, ClaimStore claims, LockstepSettings settings)
    {
        _launch = launch;
        _self = Self;
        _history = launch.History.ToList();
        foreach (var node in launch.AvoidNodes) _badSecondaryNodes.Add(node);
        _placementSeed = launch.Name.GetHashCode();
        string owner = NodePicker.ClaimOwner(_cluster, Self.Path.Name);
        _runtime = new PrimaryRuntime(launch.Name, launch.Machine, launch.Generation, launch.Claimed, launch.FirstEntryIndex,
            launch.ReleasedSeq, settings, claims, owner, this, launch.Filter);

        Receive<ReleasedOutput>(r => Route(r.Output));
        Receive<SecondaryNeeded>(n =>
        {
            if (n.AfterLoss)
                _history.Add(new FailoverRecord(DateTime.UtcNow, n.Reason, 0, NodePicker.Describe(_cluster.SelfAddress), _runtime.Generation));
            FindSecondary(n.Reason);
        });
        Receive<SecondaryListening>(OnSecondaryListening);
        Receive<SecondaryTimeout>(t =>
        {
            _badSecondaryNodes.Add(t.Node);
            FindSecondary($"no answer from {NodePicker.Describe(t.Node)}");
        });
        Receive<SecondaryFailed>(f =>
        {
            _log.Warning("secondary for {0} failed to start: {1}", launch.Name, f.Reason);
            Timers.StartSingleTimer("find-secondary", new SecondaryNeeded(f.Reason), TimeSpan.FromSeconds(1));
        });
        Receive<BecameProtected>(_ => _log.Info("{0} is Protected (generation {1}, secondary on {2})", launch.Name, _runtime.Generation, _secondaryNode));
        Receive<ClaimLost>(c =>
        {
            _log.Warning("{0}: generation {1} was claimed by another side; this primary stops", launch.Name, c.Generation);
            Context.Stop(Self);
        });
        Receive<RuntimeEnded>(e => _log.Info("{0} ended: {1} ({2})", launch.Name, e.State, e.Detail));
        Receive<Announce>(_ => Publish());
        Receive<SegmentCut>(cut =>
        {
            if (_batchFirst < 0) _batchFirst = cut.Segment.FirstEntryIndex;
            _batchEnd = cut.Segment.EndEntryIndex;
            _batchHorizon = cut.Segment.Horizon;
            _logBatch.Write(cut.Encoded);
            if (_logBatch.Length >= 1 << 20) FlushBatch();
        });
        Receive<FlushLog>(_ => FlushBatch());
        Receive<RestartJournal>(_ =>
        {
            StartJournal();
            _runtime.RequestCheckpoint();
        });
        Receive<CheckpointTaken>(taken =>
        {
            FlushBatch(); // batches before the checkpoint must reach the journal before it
            _journal.Tell(taken.Checkpoint);
        });
        Receive<SendPacket>(OnSendPacket);
        Receive<GetVmStatus>(_ => Sender.Tell(Status()));
        Receive<CheckReplicas>(_ =>
        {
            if (_runtime.Stats().State != "Protected")
            {
                Sender.Tell(new ControlError($"VM '{launch.Name}' has no secondary to compare with right now"));
                return;
            }
            _hashCheckWaiters.Add(Sender);
            _runtime.RequestHashCheck();
            Timers.StartSingleTimer("hash-check", new HashCheckTimeout(), TimeSpan.FromSeconds(10));
        });
        Receive<HashesCompared>(h =>
        {
            Timers.Cancel("hash-check");
            foreach (var waiter in _hashCheckWaiters) waiter.Tell(h.Check);
            _hashCheckWaiters.Clear();
        });
        Receive<HashCheckTimeout>(_ =>
        {
            // The check needs the guest to be running (it samples between boundaries); an idle guest gives no such point.
            foreach (var waiter in _hashCheckWaiters) waiter.Tell(new ControlError($"no replica check point of '{launch.Name}' within 10 s (the guest may be idle)"));
            _hashCheckWaiters.Clear();
        });
        Receive<TestFailover>(_ =>
        {
            Sender.Tell(new ControlOk($"primary of {launch.Name} on {NodePicker.Describe(_cluster.SelfAddress)} stopped; the secondary takes over"));
            _runtime.Kill();
            Context.Stop(Self);
        });
        Receive<RestartSecondary>(_ =>
        {
            Sender.Tell(new ControlOk($"secondary of {launch.Name} restarting"));
            if (_secondaryNode is not null) _badSecondaryNodes.Clear();
            _runtime.DismissSecondary();
        });
        Receive<StopVm>(_ =>
        {
            _runtime.Stop();
            DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(Topics.Primaries, new VmRemoved(launch.Name)));
            Context.Stop(Self);
        });
        Receive<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_journal))
            {
                // A journal that failed to write (storage locked or down) stops; the VM goes on, and the
                // journal comes back with a fresh checkpoint, since the batches in between are lost.
                _log.Warning("{0}: the journal stopped; restarting it in {1} s with a new checkpoint", launch.Name, JournalRestartDelay.TotalSeconds);
                _journal = ActorRefs.Nobody;
                Timers.StartSingleTimer("journal-restart", new RestartJournal(), JournalRestartDelay);
                return;
            }
            foreach (var peer in _clients.Where(kv => kv.Value.Equals(t.ActorRef)).Select(kv => kv.Key).ToList()) _clients.Remove(peer);
        });
    }

    public static Props Props(Launch launch, ClaimStore claims, LockstepSettings settings) =>
        Akka.Actor.Props.Create(() => new PrimaryExecutor(launch, claims, settings));

    private void StartJournal()
    {
        _journal = Context.Watch(Context.ActorOf(VmLogJournal.Props(_launch.Name), $"journal-{++_journalStarts}"));
        _batchFirst = -1; // a batch begun for the old journal would not follow the new checkpoint
        _logBatch.SetLength(0);
    }

    /// <summary>Sends what was cut since the last flush to the journal as one event.</summary>
    private void FlushBatch()
    {
        if (_batchFirst < 0) return;
        _journal.Tell(new VmLogJournal.LogBatch(_batchFirst, _batchEnd, _batchHorizon, _logBatch.ToArray()));
        _logBatch.SetLength(0);
        _batchFirst = -1;
    }

    protected override void PreStart()
    {
        StartJournal();
        Timers.StartPeriodicTimer("flush-log", new FlushLog(), TimeSpan.FromMilliseconds(200));
        _runtime.Start();
        foreach (var output in _launch.Resend) Route(output); // outputs whose release the old primary could not prove
        Publish();
        Timers.StartPeriodicTimer("announce", new Announce(), TimeSpan.FromSeconds(1));
    }

    protected override void PostStop()
    {
        _runtime.Kill();
    }

    private void Publish() =>
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(Topics.Primaries,
            new PrimaryAnnounce(_launch.Name, _runtime.Generation, Self, NodePicker.Describe(_cluster.SelfAddress))));

    private void OnSendPacket(SendPacket send)
    {
        if (!Sender.IsNobody())
        {
            if (!_clients.TryGetValue(send.Peer, out var known) || !known.Equals(Sender))
            {
                _clients[send.Peer] = Sender;
                Context.Watch(Sender);
            }
            Sender.Tell(new ControlOk("accepted"));
            FlushUndelivered(send.Peer);
        }
        if (send.Tag is { } tag)
        {
            if (!_runtime.Deliver(send.Peer, send.Data, tag.Session, tag.Ordinal, tag.AnsweredBelow))
                _log.Info("{0}: dropped a late copy of request #{1} of client session {2:x}, which its client saw answered",
                    _launch.Name, tag.Ordinal, tag.Session);
        }
        else _runtime.Deliver(send.Peer, send.Data);
    }

    private void Route(MachineOutput output)
    {
        if (output.Kind != OutputKind.Packet)
        {
            if (_log.IsDebugEnabled) _log.Debug("{0} console: {1}", _launch.Name, System.Text.Encoding.UTF8.GetString(output.Data));
            return;
        }
        var packet = new VmPacket(_launch.Name, output.Peer, output.Seq, output.Data);
        if (_clients.TryGetValue(output.Peer, out var client))
        {
            client.Tell(packet);
            return;
        }
        // Nobody listens for this peer yet (e.g. right after a failover): keep it for the client's next request.
        if (!_undelivered.TryGetValue(output.Peer, out var queue)) _undelivered[output.Peer] = queue = new Queue<VmPacket>();
        queue.Enqueue(packet);
        while (queue.Count > MaxBufferedPerPeer) queue.Dequeue();
    }

    private void FlushUndelivered(uint peer)
    {
        if (!_undelivered.Remove(peer, out var queue)) return;
        foreach (var packet in queue) _clients[peer].Tell(packet);
    }

    private void FindSecondary(string reason)
    {
        _secondaryNode = null;
        var exclude = _badSecondaryNodes.Append(_cluster.SelfAddress);
        var node = NodePicker.Pick(_cluster, exclude, _placementSeed++);
        if (node is null)
        {
            _badSecondaryNodes.Clear();
            _log.Warning("{0}: no other node for a secondary ({1}); retrying", _launch.Name, reason);
            Timers.StartSingleTimer("find-secondary", new SecondaryNeeded(reason), TimeSpan.FromSeconds(1));
            return;
        }
        _log.Info("{0}: placing a secondary on {1} ({2})", _launch.Name, NodePicker.Describe(node), reason);
        NodePicker.ExecutorsAt(Context.System, node).Tell(
            new StartSecondary(_launch.Name, _launch.MemorySize, _runtime.Generation, Self, _history.ToList()));
        // A node that died but is not yet known as unreachable never answers: try another one.
        Timers.StartSingleTimer("secondary-timeout", new SecondaryTimeout(node), SecondaryStartTimeout);
    }

    private void OnSecondaryListening(SecondaryListening listening)
    {
        if (listening.Generation != _runtime.Generation)
        {
            listening.Secondary.Tell(PoisonPill.Instance); // made for an older generation
            return;
        }
        Timers.Cancel("secondary-timeout");
        _secondaryNode = listening.Node;
        _runtime.AttachSecondary(listening.Host, listening.Port);
    }

    private VmStatus Status()
    {
        var stats = _runtime.Stats();
        bool protectedNow = stats.State == "Protected";
        return new VmStatus(_launch.Name, stats.State, stats.Generation, NodePicker.Describe(_cluster.SelfAddress),
            protectedNow ? _secondaryNode : null, stats.LagMs, stats.Instructions, stats.Outputs, stats.LogBytesPerSecond,
            _history.ToList(), stats.Detail ?? $"re-protection pause {stats.LastReprotectPauseMs:F1} ms");
    }

    void IPrimaryEvents.Released(MachineOutput output) => _self.Tell(new ReleasedOutput(output));
    void IPrimaryEvents.NeedSecondary(string reason, bool afterLoss) => _self.Tell(new SecondaryNeeded(reason, afterLoss));
    void IPrimaryEvents.Protected() => _self.Tell(new BecameProtected());
    void IPrimaryEvents.LostClaim(long generation) => _self.Tell(new ClaimLost(generation));
    void IPrimaryEvents.Ended(string state, string detail) => _self.Tell(new RuntimeEnded(state, detail));
    void IPrimaryEvents.HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) =>
        _self.Tell(new HashesCompared(new ReplicaCheck(_launch.Name, position, primaryHash, secondaryHash)));
    void IPrimaryEvents.LogCut(LogSegment segment, byte[] encoded) => _self.Tell(new SegmentCut(segment, encoded));
    void IPrimaryEvents.Warning(string message) => _log.Warning(message);
    void IPrimaryEvents.Checkpoint(long entryIndex, ulong position, byte[] snapshot) =>
        _self.Tell(new CheckpointTaken(new VmLogJournal.Checkpoint(entryIndex, position, snapshot)));
}
