using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Primary;

/// <summary>
/// Runs a VM live on its own thread (run, cut, ship), recording every input, and keeps a secondary
/// in lockstep over a <see cref="LockstepChannel"/>: an output leaves only through the
/// <see cref="OutputGate"/>. The loop decides nothing about failover: it reports facts
/// (<see cref="IPrimaryFacts"/>) and does what it is told. It must only be started by a side that
/// holds its generation (the VM starts alone, its outputs leaving at once).
/// </summary>
/// <remarks>
/// Threads and who owns what:
/// <list type="bullet">
/// <item>The VM thread owns the machine, the recorder, the channel, the live copy in progress, the
/// ship policy and the hash check; other threads reach them only through <see cref="Post"/>ed commands.</item>
/// <item>The channel's reader thread only calls <see cref="OnFrame"/>, which touches the gate (its own lock)
/// and <see cref="_hashCheckSent"/> (an immutable record the VM thread publishes).</item>
/// <item>Figures for <see cref="Stats"/> are written by the VM thread only, read anywhere through Volatile.</item>
/// <item>The copy thread writes only <see cref="LiveCopy.Sent"/>; <see cref="LiveInputs"/> and <see cref="DeliveryFilter"/> are thread-safe.</item>
/// </list>
/// </remarks>
public sealed class PrimaryLoop
{
    private readonly string _name;
    private readonly Machine _machine;
    private readonly LiveInputs _inputs;
    private readonly EventRecorder _recorder;
    private readonly LockstepSettings _settings;
    private readonly IPrimaryFacts _facts;
    private readonly DeliveryFilter _filter;
    private readonly OutputGate _gate;
    private readonly ShipPolicy _ship;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;

    // VM thread only.
    private LockstepChannel? _channel;
    private LiveCopy? _copy;
    private bool _hashCheckWanted;
    private bool _ended;
    private bool _paused;
    private long _lastCheckpoint = Stopwatch.GetTimestamp();
    private readonly CheckpointChain _checkpoints = new();
    private bool _checkpointed;
    private long _bandwidthBytes, _bandwidthSince = Stopwatch.GetTimestamp();
    private volatile bool _stopping;

    // Published by the VM thread, read by the reader thread: what the pending replica check compares against.
    private volatile HashCheck? _hashCheckSent;
    private sealed record HashCheck(ulong Position, ulong Hash);

    // Written by the VM thread only; read anywhere with Volatile.
    private double _logBytesPerSecond, _reprotectPauseMs, _precopyMs;
    private long _logBytesShipped;

    /// <param name="releasedSeq">The first output sequence number not known to be released (a promoted or rebuilt primary's).</param>
    /// <param name="filter">The delivery marks a promoted secondary took over; null for a fresh start.</param>
    public PrimaryLoop(string name, Machine machine, long firstEntryIndex, ulong releasedSeq, LockstepSettings settings,
        IPrimaryFacts facts, DeliveryFilter? filter = null)
    {
        _name = name;
        _machine = machine;
        _recorder = new EventRecorder(firstEntryIndex);
        _inputs = new LiveInputs(_recorder, machine.LastMtime);
        _machine.SwitchInputs(_inputs);
        _settings = settings;
        _facts = facts;
        _filter = filter ?? new DeliveryFilter();
        _gate = new OutputGate(facts.Released);
        _gate.Start(releasedSeq);
        _ship = new ShipPolicy(settings.ShipInterval);
        _thread = new Thread(Loop) { IsBackground = true, Name = $"vm-{name}-primary" };
    }

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

    /// <summary>Connects to the secondary listening at host:port (presenting its token) and brings it in sync; any thread.</summary>
    public void Attach(string host, int port, AttachToken token) => Post(() => BeginAttach(host, port, token));

    /// <summary>Retires the secondary in good order (it will not take over); reported as lost with <see cref="CloseReason.SaidGoodbye"/>.</summary>
    public void Dismiss() => Post(() =>
    {
        if (_copy is { } copy)
        {
            DropCopy(copy, "secondary dismissed while its RAM was copied");
            return;
        }
        _channel?.SayGoodbye();
    });

    /// <summary>The next generation is this side's: held outputs leave, and later ones at once, until the next attach.</summary>
    public void GoAlone() => Post(_gate.GoAlone);

    /// <summary>Stops running the guest (inputs keep arriving, the channel keeps its heartbeats); the secondary simply has nothing to replay.</summary>
    public void Pause() => Post(() => _paused = true);

    /// <summary>Runs the guest again, with whatever arrived meanwhile.</summary>
    public void Resume() => Post(() => _paused = false);

    /// <summary>Stops in good order: the secondary is told, so it does not take over.</summary>
    public void Stop() => Post(() =>
    {
        _copy?.Channel.SayGoodbye();
        _channel?.SayGoodbye();
        _stopping = true;
    });

    /// <summary>Stops as if the node had died: the channel just drops (the secondary takes over), held outputs never leave.</summary>
    public void Kill() => Post(() =>
    {
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
        Volatile.Read(ref _precopyMs));

    private void Post(Action command)
    {
        _commands.Enqueue(command);
        _wake.Set();
    }

    private void Loop()
    {
        try
        {
            TakeCheckpoint();
            var produced = new List<MachineOutput>();
            while (!_stopping)
            {
                while (_commands.TryDequeue(out var command)) command();
                if (_stopping) break;
                if (_copy is { Sent: true } copy) CompleteAttach(copy);
                if (_machine.IsHalted || _paused)
                {
                    Ship(force: true);
                    _wake.WaitOne(_settings.HeartbeatInterval);
                    CheckChannel();
                    continue;
                }
                var reason = _machine.Run(_settings.SliceInstructions);
                if (_machine.Outputs.Count > 0)
                {
                    produced.Clear();
                    produced.AddRange(_machine.Outputs);
                    _machine.Outputs.Clear();
                    _ship.Produced(produced.Count);
                    _gate.Hold(produced);
                }
                Ship(force: reason is StopReason.Waiting or StopReason.Halted or StopReason.Faulted);
                if (_hashCheckWanted && reason is StopReason.Budget or StopReason.Output) SendHashCheck();
                CheckChannel();
                if (reason is StopReason.Halted or StopReason.Faulted) ReportEnd(reason);
                else if (reason == StopReason.Waiting && !_inputs.HasArrivals)
                {
                    var sleep = _inputs.UntilTimer(_machine);
                    if (sleep > _settings.HeartbeatInterval) sleep = _settings.HeartbeatInterval;
                    if (sleep > TimeSpan.Zero) _wake.WaitOne(sleep);
                }
                else if (_gate.LagMs > _settings.MaxLag.TotalMilliseconds)
                {
                    Thread.Sleep(1); // bounded lag: let the secondary catch up so failover stays short
                }
            }
        }
        catch (Exception e)
        {
            _facts.Ended(VmState.Faulted, $"primary loop failed: {e.Message}");
        }
        finally
        {
            _stopping = true;
        }
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
        if (_channel is null && _recorder.PendingCount == 0) return; // no heartbeat needed without a partner
        var segment = _recorder.Cut(_machine.Position);
        var frame = SegmentFrame.Of(_gate.ReleasedSeq, segment);
        if (segment.Entries.Length > 0) _facts.LogCut(segment, frame.Encoded);
        if (Stopwatch.GetElapsedTime(_lastCheckpoint, now) >= _settings.CheckpointInterval) TakeCheckpoint();
        _ship.Shipped(now);
        if (_channel is null) return;
        // Marks first: the secondary must hold them before the packets they let in can be its to answer for.
        if (_filter.TakeChanges() is { } marks) _channel.Send(new DeliveryMarksFrame(marks));
        _channel.Send(frame);
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
                if (_gate.Ack(link, ack.Horizon, ack.Replayed)) _facts.SecondaryInSync();
                break;
            case HashResultFrame result when _hashCheckSent is { } sent && _gate.IsCurrent(link):
                _facts.HashChecked(sent.Position, sent.Hash, result.Position == sent.Position ? result.Hash : 0);
                break;
        }
    }

    private void CheckChannel()
    {
        if (_channel is null) return;
        if (_channel.IsOpen && _channel.SilentFor > _settings.HeartbeatTimeout)
            _channel.Close(CloseReason.Silent, $"secondary silent for {_channel.SilentFor.TotalMilliseconds:F0} ms");
        if (_channel.IsOpen) return;
        var lost = _channel;
        _channel = null;
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
        var link = new object();
        _gate.Link(link);
        LockstepChannel channel;
        try
        {
            channel = LockstepChannel.Connect(host, port, token, frame => OnFrame(link, frame), TimeSpan.FromSeconds(2), _settings.HeartbeatTimeout);
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            _gate.Unlink(link);
            _facts.AttachFailed($"could not connect to the secondary at {host}:{port}: {e.Message}");
            return;
        }
        _machine.ClearDirtyPages();
        _copy = new LiveCopy(channel, link, $"{host}:{port}", _machine, _name, () => _wake.Set());
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
        // Entries before the snapshot are inside it, so the secondary skips them; the journal still needs them.
        var before = _recorder.Cut(_machine.Position);
        if (before.Entries.Length > 0) _facts.LogCut(before, LogCodec.Encode(before));
        // Linked before the snapshot goes: the secondary acknowledges it on receipt, and that ack must find the position set.
        _gate.Linked(copy.Link, _machine.Position);
        channel.Send(new SnapshotFrame(_recorder.NextSegmentStart, _gate.ReleasedSeq, _machine.Position, MachineSnapshot.CaptureDelta(_machine)));
        _filter.TakeChanges(); // the full set goes now; later changes go with the segments
        channel.Send(new DeliveryMarksFrame(_filter.EncodeAll()));
        Volatile.Write(ref _reprotectPauseMs, pause.Elapsed.TotalMilliseconds);
        _channel = channel;
        _ship.Shipped(Stopwatch.GetTimestamp());
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
