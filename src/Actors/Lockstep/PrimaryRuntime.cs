using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Lockstep.Actors.Claims;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Lockstep;

/// <summary>What a primary runtime tells its executor actor (called on the runtime's threads).</summary>
public interface IPrimaryEvents
{
    void Released(MachineOutput output);
    /// <param name="afterLoss">True when a secondary failed (and the next generation was claimed): a failover to record.</param>
    void NeedSecondary(string reason, bool afterLoss);
    void Protected();
    void LostClaim(long generation);
    void Ended(string state, string detail);
    /// <summary>A non-empty log segment was cut (for the journal), in log order.</summary>
    void LogCut(LogSegment segment, byte[] encoded);
    /// <summary>A full snapshot taken at a cut: the log from <paramref name="entryIndex"/> on continues it.</summary>
    void Checkpoint(long entryIndex, ulong position, byte[] snapshot);
    /// <summary>The secondary's state hash at <paramref name="position"/>, next to the primary's.</summary>
    void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash);
    /// <summary>Something the node's log should show (storage trouble); the runtime carries on.</summary>
    void Warning(string message) { }
}

/// <summary>
/// Runs a VM live on its own thread, recording every input, and keeps a secondary in lockstep
/// over a <see cref="LockstepChannel"/>: the log is shipped in segments, and an output is released
/// only once the secondary has acknowledged a horizon past the instruction that produced it.
/// The VM never waits for that; only the output does. Without a secondary the runtime runs on
/// alone, but only after winning the claim for the next generation.
/// </summary>
public sealed class PrimaryRuntime
{
    private readonly string _name;
    private readonly Machine _machine;
    private readonly LiveInputs _inputs;
    private readonly EventRecorder _recorder;
    private readonly LockstepSettings _settings;
    private readonly ClaimStore _claims;
    private readonly string _owner;
    private readonly IPrimaryEvents _events;
    private readonly DeliveryFilter _filter;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly object _gate = new();
    private readonly Queue<MachineOutput> _held = new();
    private readonly Queue<(ulong Position, long Timestamp)> _cuts = new();
    private readonly Thread _thread;

    private readonly bool _claimed;
    private bool _alone = true;
    private long _claimAt;
    private string? _lossReason;
    private bool _lossWasFailure;
    private bool _hashCheckWanted;
    private (ulong Position, ulong Hash)? _hashCheckSent;
    private LockstepChannel? _channel;
    private bool _protected;
    // The secondary being attached or attached now: frames from any other (a dismissed one's reader
    // thread may still deliver a last ack) are ignored.
    private object? _link;
    // Where the snapshot the current secondary starts from was taken: only an ack that reaches it
    // shows the secondary holds the state. Out of reach while its RAM is still being copied.
    private ulong _attachHorizon;
    private long _lastShip;
    private long _lastCheckpoint = Stopwatch.GetTimestamp();
    private ulong _ackedHorizon;
    private ulong _releasedSeq;
    private volatile bool _stopping;
    private double _lagMs;
    private double _reprotectPauseMs, _precopyMs;
    private PendingAttach? _pending;
    private long _bandwidthBytes, _bandwidthSince = Stopwatch.GetTimestamp();
    private double _logBytesPerSecond;
    private long _logBytesShipped;
    private string _state = "NotProtected";
    private string? _detail;

    /// <param name="claimed">True when the caller already holds <paramref name="generation"/> (a promoted secondary).</param>
    /// <param name="filter">The delivery marks a promoted secondary took over; null for a fresh start.</param>
    public PrimaryRuntime(string name, Machine machine, long generation, bool claimed, long firstEntryIndex, ulong releasedSeq,
        LockstepSettings settings, ClaimStore claims, string owner, IPrimaryEvents events, DeliveryFilter? filter = null)
    {
        _filter = filter ?? new DeliveryFilter();
        _claimed = claimed;
        _name = name;
        _machine = machine;
        _recorder = new EventRecorder(firstEntryIndex);
        _inputs = new LiveInputs(_recorder, machine.LastMtime);
        _machine.SwitchInputs(_inputs);
        Generation = generation;
        _releasedSeq = releasedSeq;
        _settings = settings;
        _claims = claims;
        _owner = owner;
        _events = events;
        _thread = new Thread(Loop) { IsBackground = true, Name = $"vm-{name}-primary" };
    }

    public long Generation { get; private set; }

    public void Start() => _thread.Start();

    /// <summary>Hands an arriving packet to the guest; any thread.</summary>
    public void Deliver(uint peer, byte[] data)
    {
        _inputs.Deliver(peer, data);
        _wake.Set();
    }

    /// <summary>
    /// Hands a client's packet to the guest unless it is a late copy of a request its session has
    /// already seen answered (see <see cref="DeliveryFilter"/>); any thread. False when dropped.
    /// </summary>
    public bool Deliver(uint peer, byte[] data, long session, long ordinal, long answeredBelow)
    {
        if (!_filter.Admit(session, ordinal, answeredBelow)) return false;
        Deliver(peer, data);
        return true;
    }

    /// <summary>Connects to a secondary that listens at host:port and brings it in sync from a snapshot.</summary>
    public void AttachSecondary(string host, int port) => Post(() => Attach(host, port));

    /// <summary>Retires the secondary in good order (it will not fail over) and goes on alone.</summary>
    public void DismissSecondary() => Post(() =>
    {
        if (DropPending("secondary restarted on request")) return;
        _channel?.SayGoodbye();
        LoseSecondary("secondary restarted on request", silent: false, failure: false);
    });

    /// <summary>Stops in good order: the secondary is told, so it does not take over.</summary>
    public void Stop() => Post(() =>
    {
        _pending?.Channel.Close("primary stopped");
        _channel?.SayGoodbye();
        _stopping = true;
    });

    /// <summary>Stops as if the node had died: the channel just drops, and the secondary takes over.</summary>
    public void Kill() => Post(() =>
    {
        _pending?.Channel.Close("primary killed for a test failover");
        _channel?.Close("primary killed for a test failover");
        _channel = null;
        _stopping = true;
    });

    /// <summary>
    /// Asks for a replica check: at the next point where the machine stopped between boundaries
    /// (a spent budget or an output), the primary hashes its state and asks the secondary for its
    /// hash at the same instruction count. The answer comes as <see cref="IPrimaryEvents.HashChecked"/>.
    /// </summary>
    public void RequestHashCheck() => Post(() => _hashCheckWanted = true);

    /// <summary>A full checkpoint at the next cut, so a journal that lost batches has a complete starting point again.</summary>
    public void RequestCheckpoint() => Post(() =>
    {
        ShipLog(force: true); // entries already applied to the machine must be cut before the snapshot
        TakeCheckpoint();
    });

    public RuntimeStats Stats()
    {
        lock (_gate)
            return new RuntimeStats(_state, Generation, _machine.Position, _machine.NextOutputSeq, _lagMs,
                _logBytesPerSecond, _reprotectPauseMs, _detail, _logBytesShipped, _precopyMs);
    }

    private void Post(Action command)
    {
        _commands.Enqueue(command);
        _wake.Set();
    }

    private void Loop()
    {
        try
        {
            if (!_claimed && !Claim(Generation))
            {
                _events.LostClaim(Generation);
                return;
            }
            TakeCheckpoint();
            _events.NeedSecondary("starting", afterLoss: false);
            while (!_stopping)
            {
                while (_commands.TryDequeue(out var command)) command();
                if (_stopping) break;
                if (_pending is { Sent: true }) CompleteAttach();
                if (_machine.IsHalted)
                {
                    ShipLog(force: true);
                    _wake.WaitOne(_settings.HeartbeatInterval);
                    ReleaseOutputs();
                    CheckChannel();
                    continue;
                }
                var reason = _machine.Run(_settings.SliceInstructions);
                if (_machine.Outputs.Count > 0)
                {
                    lock (_gate) foreach (var output in _machine.Outputs) _held.Enqueue(output);
                    _unshippedOutputs += _machine.Outputs.Count;
                    _machine.Outputs.Clear();
                }
                // Ship at once when the guest has nothing more to do (a lone request's answer waits on
                // this); under load, outputs gather for up to ship-interval and travel together.
                ShipLog(force: reason is StopReason.Waiting or StopReason.Halted or StopReason.Faulted || _unshippedOutputs >= OutputsPerSegment);
                if (_hashCheckWanted && reason is StopReason.Budget or StopReason.Output) SendHashCheck();
                ReleaseOutputs();
                CheckChannel();
                if (reason is StopReason.Halted or StopReason.Faulted)
                {
                    _state = reason == StopReason.Halted ? "Halted" : "Faulted";
                    _detail = _machine.Fault?.ToString() ?? $"exit code {_machine.ExitCode}";
                    _events.Ended(_state, _detail);
                }
                else if (reason == StopReason.Waiting && !_inputs.HasArrivals)
                {
                    var sleep = _inputs.UntilTimer(_machine);
                    if (sleep > _settings.HeartbeatInterval) sleep = _settings.HeartbeatInterval;
                    if (sleep > TimeSpan.Zero) _wake.WaitOne(sleep);
                }
                else if (_protected && _lagMs > _settings.MaxLag.TotalMilliseconds)
                {
                    Thread.Sleep(1); // bounded lag: let the secondary catch up so failover stays short
                }
            }
        }
        catch (Exception e)
        {
            _state = "Faulted";
            _detail = $"primary runtime failed: {e.Message}";
            _events.Ended(_state, _detail);
        }
        finally
        {
            _stopping = true;
        }
    }

    /// <summary>
    /// Outputs that make a segment go before ship-interval is up. Counted since the last segment, not
    /// as outputs held: with more than this many awaiting their ack (a client with 128 requests in
    /// flight), a count of held outputs sent a segment, and drew an ack, for every single request.
    /// </summary>
    private const int OutputsPerSegment = 32;
    private int _unshippedOutputs;

    private void ShipLog(bool force)
    {
        long now = Stopwatch.GetTimestamp();
        bool due = Stopwatch.GetElapsedTime(_lastShip, now) >= _settings.ShipInterval;
        if (!force && !due) return;
        _unshippedOutputs = 0;
        if (_channel is null && _recorder.PendingCount == 0) return; // no heartbeat needed without a partner
        var segment = _recorder.Cut(_machine.Position);
        byte[] encoded = LogCodec.Encode(segment);
        if (segment.Entries.Length > 0) _events.LogCut(segment, encoded);
        if (Stopwatch.GetElapsedTime(_lastCheckpoint, now) >= _settings.CheckpointInterval) TakeCheckpoint();
        _lastShip = now;
        if (_channel is null) return;
        // Marks first: the secondary must hold them before the packets they let in can be its to answer for.
        if (_filter.TakeChanges() is { } marks) _channel.Send(FrameType.DeliveryMarks, marks);
        var payload = new byte[8 + encoded.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, Volatile.Read(ref _releasedSeq));
        encoded.CopyTo(payload, 8);
        _channel.Send(FrameType.Segment, payload);
        lock (_gate)
        {
            _cuts.Enqueue((segment.Horizon, now));
            while (_cuts.Count > 10_000) _cuts.Dequeue();
            _bandwidthBytes += payload.Length + 5;
            _logBytesShipped += payload.Length + 5;
            double seconds = Stopwatch.GetElapsedTime(_bandwidthSince, now).TotalSeconds;
            if (seconds >= 1)
            {
                _logBytesPerSecond = _bandwidthBytes / seconds;
                _bandwidthBytes = 0;
                _bandwidthSince = now;
            }
        }
    }

    /// <summary>
    /// Here the machine stopped before the boundary at its position, exactly where a secondary
    /// replaying to this horizon stops, so both hashes describe the same point.
    /// </summary>
    private void SendHashCheck()
    {
        if (_channel is null) return;
        _hashCheckWanted = false;
        ShipLog(force: true);
        ulong hash = StateHash.Compute(_machine);
        _hashCheckSent = (_machine.Position, hash);
        var payload = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, _machine.Position);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), hash);
        _channel.Send(FrameType.HashCheck, payload);
    }

    /// <summary>Frames from the secondary (reader thread): acks release what their horizon covers.</summary>
    private void OnFrame(object link, FrameType type, byte[] payload)
    {
        if (type == FrameType.HashResult && payload.Length >= 16 && _hashCheckSent is { } sent)
        {
            lock (_gate)
                if (link != _link) return; // a dismissed secondary's answer is not this one's
            ulong position = BinaryPrimitives.ReadUInt64LittleEndian(payload);
            ulong hash = BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8));
            // A secondary that could not stop at the checked position reports another one: a mismatch.
            _events.HashChecked(sent.Position, sent.Hash, position == sent.Position ? hash : 0);
            return;
        }
        if (type != FrameType.Ack || payload.Length < 24) return;
        ulong horizon = BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8));
        ulong replayed = BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(16));
        lock (_gate)
        {
            if (link != _link) return;
            if (horizon > _ackedHorizon) _ackedHorizon = horizon;
            long reachedAt = 0;
            while (_cuts.Count > 0 && _cuts.Peek().Position <= replayed) reachedAt = _cuts.Dequeue().Timestamp;
            _lagMs = _cuts.Count == 0 ? 0 : reachedAt == 0 ? _lagMs : Stopwatch.GetElapsedTime(reachedAt).TotalMilliseconds;
            if (!_protected && horizon >= _attachHorizon)
            {
                _protected = true;
                _state = "Protected";
                _events.Protected();
            }
        }
        ReleaseOutputs();
    }

    private void ReleaseOutputs()
    {
        List<MachineOutput>? ready = null;
        lock (_gate)
        {
            // Alone (after a won claim) releases at once; protected waits for the secondary's horizon;
            // in between (a secondary lost, the claim not yet won) nothing leaves.
            while (_held.Count > 0 && (_alone || (_channel is not null && _ackedHorizon > _held.Peek().Position)))
            {
                var output = _held.Dequeue();
                (ready ??= []).Add(output);
                Volatile.Write(ref _releasedSeq, output.Seq + 1);
            }
        }
        if (ready is null) return;
        foreach (var output in ready) _events.Released(output);
    }

    private void CheckChannel()
    {
        if (_channel is not null)
        {
            if (_channel.IsOpen && _channel.SilentFor > _settings.HeartbeatTimeout)
                _channel.Close($"secondary silent for {_channel.SilentFor.TotalMilliseconds:F0} ms");
            if (!_channel.IsOpen) LoseSecondary($"secondary lost: {_channel.ClosedReason}", silent: !PeerIsGone(_channel.ClosedReason), failure: true);
        }
        if (_claimAt != 0 && Stopwatch.GetTimestamp() >= _claimAt) ClaimNextGeneration();
    }

    /// <summary>A reset or closed connection means the peer's process is gone; anything else may be a cut.</summary>
    private static bool PeerIsGone(string? reason) =>
        reason is not null && (reason.Contains("reset", StringComparison.Ordinal) || reason.Contains("closed by the peer", StringComparison.Ordinal)
            || reason.Contains("goodbye", StringComparison.Ordinal));

    /// <summary>
    /// Going on alone needs the next generation: whoever claims it first is the only live side.
    /// After mere silence the primary waits <see cref="LockstepSettings.ClaimDelayAfterSilence"/>
    /// first: if this is a cut, the secondary is likely on the side that still reaches the cluster
    /// and the clients, and should win. Outputs stay held until the claim is won.
    /// </summary>
    private void LoseSecondary(string reason, bool silent, bool failure)
    {
        _channel = null;
        lock (_gate)
        {
            _link = null;
            _protected = false;
            _alone = false;
            _state = "NotProtected";
            _lagMs = 0;
            _cuts.Clear();
        }
        _lossReason = reason;
        _lossWasFailure = failure;
        _claimAt = Stopwatch.GetTimestamp() + (silent ? (long)(_settings.ClaimDelayAfterSilence.TotalSeconds * Stopwatch.Frequency) : 0);
        if (!silent) ClaimNextGeneration();
    }

    private void ClaimNextGeneration()
    {
        _claimAt = 0;
        string reason = _lossReason ?? "secondary lost";
        if (!Claim(Generation + 1))
        {
            _stopping = true;
            _state = "Stopped";
            _events.LostClaim(Generation + 1);
            return;
        }
        lock (_gate) _alone = true;
        Generation++;
        ReleaseOutputs();
        _events.NeedSecondary(reason, afterLoss: _lossWasFailure);
    }

    /// <summary>Claims a generation, waiting out claims storage that cannot answer (the VM runs meanwhile, its outputs held).</summary>
    private bool Claim(long generation) =>
        _claims.Claim(_name, generation, _owner, () => _stopping,
            e => _events.Warning($"{_name}: claim of generation {generation} waits for the claims storage: {e.Message}"));

    /// <summary>A journal checkpoint right after a cut, so the log that follows starts where the snapshot ends.</summary>
    private void TakeCheckpoint()
    {
        _lastCheckpoint = Stopwatch.GetTimestamp();
        _events.Checkpoint(_recorder.NextSegmentStart, _machine.Position, MachineSnapshot.CaptureFull(_machine));
    }

    /// <summary>
    /// Brings a secondary in without stopping the VM for its RAM: the dirty-page marks start over
    /// here, a thread of its own copies and sends the RAM while the VM runs on, and
    /// <see cref="CompleteAttach"/> then pauses the VM only for the core state and the pages written
    /// meanwhile. Until then the VM stays alone (its outputs leave at once), as before the attach.
    /// </summary>
    private void Attach(string host, int port)
    {
        if (_channel is not null || _pending is not null || _machine.IsHalted) return;
        var link = new object();
        lock (_gate)
        {
            _link = link;
            _attachHorizon = ulong.MaxValue; // set at the pause, where the snapshot is taken
        }
        LockstepChannel channel;
        try
        {
            channel = LockstepChannel.Connect(host, port, (type, payload) => OnFrame(link, type, payload), TimeSpan.FromSeconds(2), _settings.HeartbeatTimeout);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
        {
            _events.NeedSecondary($"could not connect to secondary at {host}:{port}: {e.Message}", afterLoss: false);
            return;
        }
        _machine.ClearDirtyPages();
        var pending = new PendingAttach(channel, link, $"{host}:{port}");
        new Thread(() =>
        {
            try
            {
                channel.Send(FrameType.SnapshotPages, MachineSnapshot.CapturePagesWhileRunning(_machine));
            }
            catch (Exception e)
            {
                // Nothing may escape this thread (it would end the node); the attach just fails.
                channel.Close($"copying RAM failed: {e.Message}");
            }
            pending.Sent = true;
            _wake.Set();
        }) { IsBackground = true, Name = $"vm-{_name}-precopy" }.Start();
        _pending = pending;
    }

    /// <summary>The pause: the log cut, the core state and the pages written since the copy began; then the secondary is on.</summary>
    private void CompleteAttach()
    {
        var pending = _pending!;
        _pending = null;
        var channel = pending.Channel;
        if (!channel.IsOpen)
        {
            lock (_gate) if (_link == pending.Link) _link = null;
            _events.NeedSecondary($"secondary at {pending.Address} lost while its RAM was sent: {channel.ClosedReason}", afterLoss: false);
            return;
        }
        _precopyMs = Stopwatch.GetElapsedTime(pending.StartedAt).TotalMilliseconds;
        var pause = Stopwatch.StartNew();
        lock (_gate) _attachHorizon = _machine.Position;
        // Entries before the snapshot are inside it, so the secondary skips them; the journal still needs them.
        var before = _recorder.Cut(_machine.Position);
        if (before.Entries.Length > 0) _events.LogCut(before, LogCodec.Encode(before));
        byte[] payload = MachineSnapshot.CaptureDelta(_machine, reserve: 16);
        BinaryPrimitives.WriteInt64LittleEndian(payload, _recorder.NextSegmentStart);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), Volatile.Read(ref _releasedSeq));
        channel.Send(FrameType.Snapshot, payload);
        _filter.TakeChanges(); // the full set goes now; later changes go with the segments
        channel.Send(FrameType.DeliveryMarks, _filter.EncodeAll());
        lock (_gate)
        {
            // Outputs made while alone are already released; from here on they wait for acks.
            _ackedHorizon = _machine.Position;
            _reprotectPauseMs = pause.Elapsed.TotalMilliseconds;
            _alone = false;
        }
        _channel = channel;
        _lastShip = Stopwatch.GetTimestamp();
    }

    /// <summary>Lets go of a secondary whose RAM is still on its way (it holds no state to take over with); false when there is none.</summary>
    private bool DropPending(string reason)
    {
        if (_pending is not { } pending) return false;
        _pending = null;
        pending.Channel.Close(reason);
        lock (_gate) if (_link == pending.Link) _link = null;
        _events.NeedSecondary(reason, afterLoss: false);
        return true;
    }

    private sealed class PendingAttach(LockstepChannel channel, object link, string address)
    {
        public LockstepChannel Channel => channel;
        public object Link => link;
        public string Address => address;
        public long StartedAt { get; } = Stopwatch.GetTimestamp();
        public volatile bool Sent;
    }
}
