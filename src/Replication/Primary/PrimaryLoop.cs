using System.Collections.Concurrent;
using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;
using Lockstep.Replication.Scheduling;

namespace Lockstep.Replication.Primary;

/// <summary>
/// Runs a VM live in steps on the node's VM threads (run, cut, ship), recording every input, and keeps a secondary
/// in lockstep over a <see cref="LinkChannel"/> (on the node's link to the secondary's node): an output leaves only through the
/// <see cref="OutputGate"/>. The loop decides nothing about failover: it reports facts
/// (<see cref="IPrimaryFacts"/>) and does what it is told. It must only be started by a side that
/// holds its generation (the VM starts alone, its outputs leaving at once).
/// </summary>
/// <remarks>
/// Threads and who owns what. "The VM thread" is whichever thread of the <see cref="VmScheduler"/> runs
/// <see cref="Step"/>: never two at once, and each step sees what the previous one wrote (the scheduler's
/// lock orders them), so the step owns its state as a thread of its own would.
/// <list type="bullet">
/// <item>The VM thread owns the machine, the recorder, the channel, the connect and live copy in progress,
/// the ship policy and the hash check; other threads reach them only through <see cref="Post"/>ed commands.</item>
/// <item>The link's reader thread only calls <see cref="OnFrame"/>, which touches the gate (its own lock)
/// and <see cref="_hashCheckSent"/> (an immutable record the VM thread publishes).</item>
/// <item>Figures for <see cref="Stats"/> are written by the VM thread only, read anywhere through Volatile.</item>
/// <item>The connect thread fills in only its <see cref="PendingConnect"/>, the copy thread writes only
/// <see cref="LiveCopy.Sent"/>; <see cref="LiveInputs"/> and <see cref="DeliveryFilter"/> are thread-safe.</item>
/// </list>
/// </remarks>
public sealed class PrimaryLoop
{
    private readonly string _name;
    private readonly Machine _machine;
    private readonly LiveInputs _inputs;
    private readonly EventRecorder _recorder;
    private readonly LockstepSettings _settings;
    private readonly NodeLinks _links;
    private readonly IPrimaryFacts _facts;
    private readonly DeliveryFilter _filter;
    private readonly OutputGate _gate;
    private readonly ShipPolicy _ship;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly ScheduledVm _vm;

    // VM thread only.
    private readonly List<MachineOutput> _produced = [];
    private bool _started;
    private long _heldUntil; // bounded lag: the guest is not run before this Stopwatch timestamp
    private LinkChannel? _channel;
    private PendingConnect? _connecting;
    private LiveCopy? _copy;
    private bool _hashCheckWanted;
    private bool _ended;
    private bool _paused;
    private HandoverState? _handover;
    private volatile bool _draining; // read by the reader thread: an ack may complete the handover, so it wakes the VM thread
    private long _lastCheckpoint = Stopwatch.GetTimestamp();
    private readonly CheckpointChain _checkpoints = new();
    private bool _checkpointed;
    private long _bandwidthBytes, _bandwidthSince = Stopwatch.GetTimestamp();
    private volatile bool _stopping;
    // What the secondary was last sent: with nothing new, an idle VM sends nothing (the link carries the heartbeats).
    private ulong _shippedHorizon = ulong.MaxValue;
    // Steps that ended with the guest paused because the gate held too much (written on the VM thread, read by Stats).
    private long _outputPauses;
    private ulong _shippedReleasedSeq;
    private long _shippedAt;

    // Published by the VM thread, read by the reader thread: what the pending replica check compares against.
    private volatile HashCheck? _hashCheckSent;
    private sealed record HashCheck(ulong Position, ulong Hash);

    /// <summary>A switchover under way: the guest stopped at <see cref="StartedAt"/>; <see cref="Sent"/> once the secondary was told to take over.</summary>
    private sealed record HandoverState(long StartedAt, long Deadline, bool Sent);

    /// <summary>How long a handover may wait for the secondary's acks before it is given up and the guest runs on.</summary>
    public static readonly TimeSpan HandoverWait = TimeSpan.FromSeconds(2);

    // Written by the VM thread only; read anywhere with Volatile.
    private double _logBytesPerSecond, _reprotectPauseMs, _precopyMs;
    private long _logBytesShipped;
    // When the attach in progress began and when its pause came (VM thread), and how long the last one took to bring its
    // secondary in sync, from its start and from its pause (reader thread).
    private long _attachStartedAt, _pausedAt;
    private double _reprotectMs, _snapshotAckMs;

    /// <param name="releasedSeq">The first output sequence number not known to be released (a promoted or rebuilt primary's).</param>
    /// <param name="filter">The delivery marks a promoted secondary took over; null for a fresh start.</param>
    /// <param name="engine">The node's replication engine: its VM threads run this loop's steps, its links carry the channel to a secondary.</param>
    /// <param name="durable">Outputs also wait until the journal has committed the log before them (<see cref="Journaled"/>).</param>
    public PrimaryLoop(string name, Machine machine, long firstEntryIndex, ulong releasedSeq, LockstepSettings settings, ReplicationEngine engine,
        IPrimaryFacts facts, DeliveryFilter? filter = null, bool durable = false)
    {
        _links = engine.Links;
        _name = name;
        _machine = machine;
        _recorder = new EventRecorder(firstEntryIndex);
        _inputs = new LiveInputs(_recorder, machine.LastMtime);
        _machine.SwitchInputs(_inputs);
        _settings = settings;
        _facts = facts;
        _filter = filter ?? new DeliveryFilter();
        _gate = new OutputGate(facts.Released, durable);
        _gate.Start(releasedSeq);
        _ship = new ShipPolicy(settings.ShipInterval);
        _vm = engine.Scheduler.Add($"vm-{name}-primary", Step);
    }

    public void Start() => _vm.Start();

    /// <summary>A fact from the journal's side, any thread: it has committed every log entry before <paramref name="entries"/> (durable VMs' outputs wait for it).</summary>
    public void Journaled(long entries) => _gate.Journaled(entries);

    /// <summary>Durable: outputs waiting now, and how many log entries the journal is known to hold (-1: none yet).</summary>
    public (int Held, long JournaledEntries) JournalState() => (_gate.HeldCount, _gate.JournaledEntries);

    /// <summary>Hands an arriving packet to the guest; any thread.</summary>
    public bool Deliver(uint peer, byte[] data)
    {
        bool taken = _inputs.Deliver(peer, data);
        _vm.Wake();
        return taken;
    }

    /// <summary>
    /// Hands a client's packet to the guest unless it is a late copy of a request its session has
    /// already seen answered (see <see cref="DeliveryFilter"/>); any thread. False when dropped.
    /// </summary>
    public bool Deliver(uint peer, byte[] data, long session, long ordinal, long answeredBelow)
    {
        // A packet the device queue has no room for is dropped before the filter sees it, so that the client's retry is not taken for a late copy.
        if (!_inputs.HasRoom || !_filter.Admit(session, ordinal, answeredBelow)) return false;
        return Deliver(peer, data);
    }

    /// <summary>Connects to the secondary listening at host:port (presenting its token) and brings it in sync; any thread.</summary>
    public void Attach(string host, int port, AttachToken token) => Post(() => BeginAttach(host, port, token));

    /// <summary>Retires the secondary in good order (it will not take over); reported as lost with <see cref="CloseReason.SaidGoodbye"/>.</summary>
    public void Dismiss() => Post(() =>
    {
        if (_connecting is { } connecting)
        {
            _connecting = null;
            connecting.Abandon(sayGoodbye: true);
            _gate.Unlink(connecting.Link);
            _facts.AttachFailed("secondary dismissed while connecting to it");
            return;
        }
        if (_copy is { } copy)
        {
            DropCopy(copy, "secondary dismissed while its RAM was copied");
            return;
        }
        _channel?.SayGoodbye();
    });

    /// <summary>The next generation is this side's: held outputs leave, and later ones at once, until the next attach. A handover given up ends here too: the guest runs again.</summary>
    public void GoAlone()
    {
        // The gate is thread-safe: the held outputs leave now, not after a turn of the VM's scheduler thread.
        _gate.GoAlone();
        Post(() => _handover = null);
    }

    /// <summary>
    /// A planned switchover: stops running the guest (once it has taken every packet that arrived), ships everything, and once the secondary has acknowledged it all and
    /// every output is released, tells the secondary to take over at this position (<see cref="IPrimaryFacts.HandedOver"/>).
    /// From then the guest stays stopped: the channel's end says what happened (a goodbye: the secondary took over; any
    /// other end: it may not have, and <see cref="GoAlone"/> after a won claim runs the guest again). Not possible in time:
    /// <see cref="IPrimaryFacts.HandoverFailed"/>, and the guest runs on.
    /// </summary>
    public void Handover() => Post(() =>
    {
        if (_handover is not null) return;
        if (_channel is null || _copy is not null || _connecting is not null)
        {
            _facts.HandoverFailed("no secondary in sync to hand over to");
            return;
        }
        long now = Stopwatch.GetTimestamp();
        _handover = new HandoverState(now, now + (long)(HandoverWait.TotalSeconds * Stopwatch.Frequency), false);
        _draining = true;
    });

    /// <summary>Stops running the guest (inputs keep arriving, the link keeps its heartbeats); the secondary simply has nothing to replay.</summary>
    public void Pause() => Post(() => _paused = true);

    /// <summary>Runs the guest again, with whatever arrived meanwhile.</summary>
    public void Resume() => Post(() => _paused = false);

    /// <summary>Stops in good order: the secondary is told, so it does not take over.</summary>
    public void Stop() => Post(() =>
    {
        _connecting?.Abandon(sayGoodbye: true);
        _copy?.Channel.SayGoodbye();
        _channel?.SayGoodbye();
        _stopping = true;
    });

    /// <summary>Stops as if the node had died: the channel just drops (the secondary takes over), held outputs never leave.</summary>
    public void Kill() => Post(() =>
    {
        _connecting?.Abandon(sayGoodbye: false);
        _copy?.Channel.Close(CloseReason.Local, "primary killed");
        _channel?.Close(CloseReason.Local, "primary killed");
        _channel = null;
        _stopping = true;
    });

    /// <summary>
    /// Asks for a replica check: at the next point where the machine stopped between boundaries
    /// (a spent budget or an output), the primary hashes its state and asks the secondary for its
    /// hash at the same instruction count. The answer comes as <see cref="IPrimaryFacts.HashChecked"/>.
    /// </summary>
    public void RequestHashCheck() => Post(() => _hashCheckWanted = true);

    /// <summary>A full checkpoint at the next turn, so a journal that lost batches has a complete starting point again.</summary>
    public void RequestCheckpoint() => Post(() =>
    {
        Ship(force: true); // entries already applied to the machine must be cut before the snapshot
        _checkpoints.RequireFull();
        TakeCheckpoint();
    });

    /// <summary>Any thread. Instructions and outputs are read while the VM runs: a moment's value, not a consistent pair.</summary>
    public PrimaryStats Stats() => new(_machine.Position, _machine.NextOutputSeq, _gate.LagMs,
        Volatile.Read(ref _logBytesPerSecond), Volatile.Read(ref _reprotectPauseMs), Volatile.Read(ref _logBytesShipped),
        Volatile.Read(ref _precopyMs), _gate.ReleasedSeq, _inputs.DroppedPackets, _gate.HeldCount, Volatile.Read(ref _outputPauses),
        _gate.HoldTimes.Snapshot(), Volatile.Read(ref _reprotectMs), Volatile.Read(ref _snapshotAckMs));

    private void Post(Action command)
    {
        _commands.Enqueue(command);
        _vm.Wake();
    }

    /// <summary>
    /// One turn of what was the VM thread's loop: commands, a slice of the guest, the ship. Where that
    /// loop waited for a wake-up or a timeout, the step returns and the scheduler sleeps it instead.
    /// </summary>
    private VmStep Step()
    {
        try
        {
            if (!_started)
            {
                _started = true;
                TakeCheckpoint();
            }
            // Bounded lag: the guest waits for the secondary to catch up, commands with it (as behind a sleep).
            if (_heldUntil != 0 && Stopwatch.GetTimestamp() < _heldUntil) return VmStep.SleepUntil(_heldUntil);
            _heldUntil = 0;
            while (_commands.TryDequeue(out var command)) command();
            if (_stopping) return VmStep.Finished;
            if (_connecting is { Done: true } connecting) ContinueAttach(connecting);
            if (_copy is { Sent: true } copy) CompleteAttach(copy);
            // Packets that arrived but were not taken yet would be lost with this side: the guest takes them before it stops.
            if (_handover is { } handover && (handover.Sent || _paused || !_inputs.HasArrivals)) return ContinueHandover(handover);
            if (_machine.IsHalted || _paused)
            {
                Ship(force: true);
                CheckChannel();
                return Idle(IdleSleep(Timeout.InfiniteTimeSpan));
            }
            if (_gate.IsFull)
            {
                // Bounded held outputs: a guest that transmits while nothing can leave (no ack, no claim yet) waits
                // for its outputs to go, as behind a full transmit ring; acks and the claim release them meanwhile.
                Interlocked.Increment(ref _outputPauses);
                Ship(force: true);
                CheckChannel();
                return VmStep.SleepFor(TimeSpan.FromMilliseconds(1));
            }
            var reason = _machine.Run(_settings.SliceInstructions);
            if (_machine.Outputs.Count > 0)
            {
                _produced.Clear();
                _produced.AddRange(_machine.Outputs);
                _machine.Outputs.Clear();
                _ship.Produced(_produced.Count);
                _gate.Hold(_produced, _recorder.EntryCount);
            }
            Ship(force: reason is StopReason.Waiting or StopReason.Halted or StopReason.Faulted);
            if (_hashCheckWanted && reason is StopReason.Budget or StopReason.Output) SendHashCheck();
            CheckChannel();
            if (reason is StopReason.Halted or StopReason.Faulted) ReportEnd(reason);
            else if (reason == StopReason.Waiting && !_inputs.HasArrivals)
            {
                var sleep = IdleSleep(_inputs.UntilTimer(_machine));
                if (sleep > TimeSpan.Zero) return Idle(sleep);
            }
            else if (_gate.LagMs > _settings.MaxLag.TotalMilliseconds)
            {
                // Bounded lag: let the secondary catch up so failover stays short.
                _heldUntil = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 1000;
                return VmStep.SleepUntil(_heldUntil);
            }
            return VmStep.RunAgain;
        }
        catch (Exception e)
        {
            _stopping = true;
            _connecting?.Abandon(sayGoodbye: false);
            _facts.Ended(VmState.Faulted, $"primary loop failed: {e.Message}");
            return VmStep.Finished;
        }
    }

    /// <summary>The guest stays stopped; the secondary is told to take over once it holds everything and nothing is held.</summary>
    private VmStep ContinueHandover(HandoverState handover)
    {
        Ship(force: true);
        CheckChannel();
        if (_handover is null) return VmStep.RunAgain; // lost before the secondary was told: the guest runs on, its outputs held until the claim
        if (handover.Sent) return VmStep.Wait;
        if (_gate.Drained(_machine.Position))
        {
            _draining = false;
            _channel!.Send(new HandoverFrame(_machine.Position, _recorder.NextSegmentStart, _gate.ReleasedSeq));
            _handover = handover with { Sent = true };
            _facts.HandedOver(_machine.Position, Stopwatch.GetElapsedTime(handover.StartedAt).TotalMilliseconds);
            return VmStep.Wait;
        }
        if (Stopwatch.GetTimestamp() >= handover.Deadline)
        {
            _draining = false;
            _handover = null;
            _facts.HandoverFailed($"the secondary did not acknowledge everything within {HandoverWait.TotalSeconds:F0} s");
            return VmStep.RunAgain;
        }
        return VmStep.SleepFor(TimeSpan.FromMilliseconds(5)); // an ack wakes it sooner
    }

    /// <summary>An idle step's end: asleep until <paramref name="until"/> passes (infinite: until woken).</summary>
    private static VmStep Idle(TimeSpan until) => until == Timeout.InfiniteTimeSpan ? VmStep.Wait : VmStep.SleepFor(until);

    /// <summary>
    /// How long an idle VM sleeps: until a packet, a command or <paramref name="until"/> (its timer deadline),
    /// nothing periodic. But while outputs wait for their ack, or were released since the last segment, it
    /// wakes a heartbeat interval after that segment to tell the secondary what was released (a takeover
    /// re-sends what it does not know to be released), unless a busier segment carried it meanwhile.
    /// </summary>
    private TimeSpan IdleSleep(TimeSpan until)
    {
        if (_channel is null) return until;
        TimeSpan tell;
        if (_gate.ReleasedSeq != _shippedReleasedSeq)
        {
            tell = _settings.HeartbeatInterval - Stopwatch.GetElapsedTime(_shippedAt);
            if (tell < TimeSpan.FromMilliseconds(1)) tell = TimeSpan.FromMilliseconds(1);
        }
        else if (_gate.HasHeld) tell = _settings.HeartbeatInterval; // their ack releases them on the reader thread, which does not wake this one
        else return until;
        return until == Timeout.InfiniteTimeSpan || until > tell ? tell : until;
    }

    private void ReportEnd(StopReason reason)
    {
        if (_ended) return;
        _ended = true;
        _facts.Ended(reason == StopReason.Halted ? VmState.Halted : VmState.Faulted,
            _machine.Fault?.ToString() ?? $"exit code {_machine.ExitCode}");
    }

    /// <param name="force">The guest is idle (or ended): ship now, whatever the policy's clock says.</param>
    private void Ship(bool force)
    {
        long now = Stopwatch.GetTimestamp();
        if (!_ship.Due(force, now)) return;
        if (_channel is null && _recorder.PendingCount == 0) return; // nothing to journal, nobody to tell
        if (_channel is not null && _recorder.PendingCount == 0 && _machine.Position == _shippedHorizon
            && (_gate.ReleasedSeq == _shippedReleasedSeq || Stopwatch.GetElapsedTime(_shippedAt, now) < _settings.HeartbeatInterval))
            return; // nothing new but released outputs, which can wait for a busier segment up to a heartbeat interval (see IdleSleep)
        var segment = _recorder.Cut(_machine.Position);
        var frame = SegmentFrame.Of(_gate.ReleasedSeq, segment);
        if (segment.Entries.Length > 0) _facts.LogCut(segment, frame.Encoded);
        if (Stopwatch.GetElapsedTime(_lastCheckpoint, now) >= _settings.CheckpointInterval) TakeCheckpoint();
        _ship.Shipped(now);
        if (_channel is null) return;
        // Marks first: the secondary must hold them before the packets they let in can be its to answer for.
        if (_filter.TakeChanges() is { } marks) _channel.Send(new DeliveryMarksFrame(marks));
        _channel.Send(frame);
        (_shippedHorizon, _shippedReleasedSeq, _shippedAt) = (segment.Horizon, frame.ReleasedSeq, now);
        _gate.Shipped(segment.Horizon, now);
        CountShipped(FrameCodec.HeaderSize + 8 + frame.Encoded.Length, now);
    }

    private void CountShipped(int bytes, long now)
    {
        _bandwidthBytes += bytes;
        Volatile.Write(ref _logBytesShipped, _logBytesShipped + bytes);
        double seconds = Stopwatch.GetElapsedTime(_bandwidthSince, now).TotalSeconds;
        if (seconds < 1) return;
        Volatile.Write(ref _logBytesPerSecond, _bandwidthBytes / seconds);
        _bandwidthBytes = 0;
        _bandwidthSince = now;
    }

    /// <summary>
    /// Here the machine stopped before the boundary at its position, exactly where a secondary
    /// replaying to this horizon stops, so both hashes describe the same point.
    /// </summary>
    private void SendHashCheck()
    {
        if (_channel is null) return;
        _hashCheckWanted = false;
        Ship(force: true);
        var check = new HashCheck(_machine.Position, StateHash.Compute(_machine));
        _hashCheckSent = check;
        _channel.Send(new HashCheckFrame(check.Position, check.Hash));
    }

    /// <summary>Reader thread: frames from the secondary <paramref name="link"/>.</summary>
    private void OnFrame(object link, Frame frame)
    {
        switch (frame)
        {
            case AckFrame ack:
                if (_gate.Ack(link, ack.Horizon, ack.Replayed))
                {
                    Volatile.Write(ref _snapshotAckMs, Stopwatch.GetElapsedTime(Volatile.Read(ref _pausedAt)).TotalMilliseconds);
                    Post(() => GrantAuthority(link));
                }
                if (_draining) _vm.Wake();
                break;
            case AuthorityTakenFrame taken:
                if (_gate.AuthorityTaken(link, taken.Position))
                {
                    Volatile.Write(ref _reprotectMs, Stopwatch.GetElapsedTime(Volatile.Read(ref _attachStartedAt)).TotalMilliseconds);
                    _facts.SecondaryInSync();
                }
                break;
            case HashResultFrame result when _hashCheckSent is { } sent && _gate.IsCurrent(link):
                _facts.HashChecked(sent.Position, sent.Hash, result.Position == sent.Position ? result.Hash : 0);
                break;
        }
    }

    private void CheckChannel()
    {
        // Silence is the link's: its heartbeat timer ends the link, and so this channel, when the secondary's node goes quiet.
        if (_channel is null || _channel.IsOpen) return;
        var lost = _channel;
        _channel = null;
        _draining = false;
        if (_handover is { Sent: false }) _handover = null; // told nothing: the guest runs on; told: it waits for the claim (GoAlone)
        _gate.Hold();
        _facts.SecondaryLost(lost.ClosedReason ?? CloseReason.ConnectionLost, lost.ClosedDetail ?? "secondary lost");
    }

    /// <summary>
    /// A journal checkpoint right after a cut, so the log that follows starts where the snapshot ends:
    /// full at the start of the loop and now and then, otherwise the pages written since the last one.
    /// The first one is taken at once; the second comes at this VM's own phase of the interval, so that
    /// VMs started together (a node's worth after a failover) do not all write in the same second.
    /// </summary>
    private void TakeCheckpoint()
    {
        var image = _checkpoints.Capture(_machine);
        long now = Stopwatch.GetTimestamp();
        _lastCheckpoint = _checkpointed ? now : now - CheckpointPhase.TicksBefore(_name, _settings.CheckpointInterval);
        _checkpointed = true;
        _facts.Checkpoint(_recorder.NextSegmentStart, _machine.Position, image.Bytes, image.IsFull);
    }

    /// <summary>
    /// Brings a secondary in without stopping the VM for its RAM: the dirty-page marks start over
    /// here, the live copy sends the RAM while the VM runs on, and <see cref="CompleteAttach"/> then
    /// pauses the VM only for the core state and the pages written meanwhile. Until then the VM stays
    /// alone (its outputs leave at once).
    /// </summary>
    private void BeginAttach(string host, int port, AttachToken token)
    {
        if (_channel is not null || _copy is not null)
        {
            _facts.AttachFailed("a secondary is attached already");
            return;
        }
        if (_machine.IsHalted)
        {
            _facts.AttachFailed("the guest has ended");
            return;
        }
        if (_connecting is not null)
        {
            _facts.AttachFailed("a secondary is being connected already");
            return;
        }
        var link = new object();
        Volatile.Write(ref _attachStartedAt, Stopwatch.GetTimestamp());
        _gate.Link(link);
        // The connect blocks (up to 2 s): on a thread of its own, not on a VM thread.
        _connecting = new PendingConnect(
            () => _links.Open(host, port, _name, token, frame => OnFrame(link, frame), _vm.Wake, TimeSpan.FromSeconds(2)),
            link, $"{host}:{port}", _name, _vm.Wake);
    }

    /// <summary>The connect is through (or failed): the live copy of the RAM begins.</summary>
    private void ContinueAttach(PendingConnect connecting)
    {
        _connecting = null;
        var (channel, failure) = connecting.Take();
        if (channel is null)
        {
            _gate.Unlink(connecting.Link);
            _facts.AttachFailed($"could not connect to the secondary at {connecting.Address}: {failure}");
            return;
        }
        _machine.ClearDirtyPages();
        _copy = new LiveCopy(channel, connecting.Link, connecting.Address, _machine, _name, _vm.Wake);
    }

    /// <summary>The pause: the log cut, the core state and the pages written since the copy began; then the secondary is on.</summary>
    private void CompleteAttach(LiveCopy copy)
    {
        _copy = null;
        var channel = copy.Channel;
        if (!channel.IsOpen)
        {
            _gate.Unlink(copy.Link);
            _facts.AttachFailed($"secondary at {copy.Address} lost while its RAM was sent: {channel.ClosedDetail}");
            return;
        }
        Volatile.Write(ref _precopyMs, Stopwatch.GetElapsedTime(copy.StartedAt).TotalMilliseconds);
        var pause = Stopwatch.StartNew();
        Volatile.Write(ref _pausedAt, Stopwatch.GetTimestamp());
        // Entries before the snapshot are inside it, so the secondary skips them; the journal still needs them.
        var before = _recorder.Cut(_machine.Position);
        if (before.Entries.Length > 0) _facts.LogCut(before, LogCodec.Encode(before));
        // Seeding before the snapshot goes: the secondary acknowledges it on receipt, and that ack must find the position set.
        _gate.Seeding(copy.Link, _machine.Position);
        channel.Send(new SnapshotFrame(_recorder.NextSegmentStart, _gate.ReleasedSeq, _machine.Position, MachineSnapshot.CaptureDelta(_machine)));
        _filter.TakeChanges(); // the full set goes now; later changes go with the segments
        channel.Send(new DeliveryMarksFrame(_filter.EncodeAll()));
        Volatile.Write(ref _reprotectPauseMs, pause.Elapsed.TotalMilliseconds);
        _channel = channel;
        _ship.Shipped(Stopwatch.GetTimestamp());
        (_shippedHorizon, _shippedReleasedSeq, _shippedAt) = (_machine.Position, _gate.ReleasedSeq, Stopwatch.GetTimestamp());
    }

    /// <summary>
    /// The seeded secondary holds the snapshot: the log up to here goes to it, then the authority to take over from
    /// here. Outputs made until now left without waiting for it (it could not have taken over with them); those made
    /// from now on wait for its acks, which it sends only after this frame, so an ack that releases one shows it may take over.
    /// </summary>
    private void GrantAuthority(object link)
    {
        if (_channel is null || !_channel.IsOpen) return; // the loss is CheckChannel's
        Ship(force: true);
        ulong position = _machine.Position;
        if (!_gate.Authorize(link, position)) return;
        _channel.Send(new AuthorityFrame(position));
    }

    /// <summary>Lets go of a secondary whose RAM is still on its way (it holds no state to take over with).</summary>
    private void DropCopy(LiveCopy copy, string reason)
    {
        _copy = null;
        copy.Channel.SayGoodbye();
        _gate.Unlink(copy.Link);
        _facts.AttachFailed(reason);
    }
}
