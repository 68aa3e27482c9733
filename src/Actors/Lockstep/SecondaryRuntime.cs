using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lockstep.Actors.Claims;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Lockstep;

/// <summary>What a secondary runtime tells its executor actor.</summary>
public interface ISecondaryEvents
{
    /// <summary>The primary is gone, this side won the claim: run <paramref name="machine"/> live from here.</summary>
    void Promoted(Machine machine, long generation, long nextEntryIndex, ulong releasedSeq, IReadOnlyList<MachineOutput> unreleased,
        DeliveryFilter filter, string reason, double gapMs);
    void Ended(string reason);
    /// <summary>Something the node's log should show (storage trouble); the runtime carries on.</summary>
    void Warning(string message) { }
}

/// <summary>
/// Replays the primary's log on its own thread. It listens for the primary's connection, starts
/// from the snapshot sent first, acknowledges every segment on receipt, and keeps its own
/// (suppressed) outputs that the primary may not have released yet. When the channel drops or
/// goes silent it replays all it has, claims the next generation and, if it wins, hands the
/// machine over to run live.
/// </summary>
public sealed class SecondaryRuntime
{
    private readonly string _name;
    private readonly uint _memorySize;
    private readonly long _generation;
    private readonly LockstepSettings _settings;
    private readonly ClaimStore _claims;
    private readonly string _owner;
    private readonly ISecondaryEvents _events;
    private readonly TcpListener _listener;
    private readonly ConcurrentQueue<(byte[]? Snapshot, long FirstEntry, LogSegment? Segment, ulong? CheckAt, bool Pages)> _inbox = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly List<MachineOutput> _unreleased = [];
    private readonly DeliveryFilter _filter = new();
    private LockstepChannel? _channel;
    private long _releasedSeq;
    private long _replayedPosition;
    private volatile bool _stopping;

    public SecondaryRuntime(string name, uint memorySize, long generation, string host, LockstepSettings settings,
        ClaimStore claims, string owner, ISecondaryEvents events)
    {
        _name = name;
        _memorySize = memorySize;
        _generation = generation;
        _settings = settings;
        _claims = claims;
        _owner = owner;
        _events = events;
        _listener = new TcpListener(IPAddress.Parse(host), 0);
    }

    /// <summary>Starts listening and the replay thread; returns the port the primary should connect to.</summary>
    public int Start()
    {
        _listener.Start(1);
        new Thread(Loop) { IsBackground = true, Name = $"vm-{_name}-secondary" }.Start();
        return ((IPEndPoint)_listener.LocalEndpoint).Port;
    }

    /// <summary>Stops without taking over (the VM was stopped, or this secondary was replaced).</summary>
    public void Stop()
    {
        _stopping = true;
        _channel?.Close("secondary stopped");
        _listener.Stop();
        _wake.Set();
    }

    private void OnFrame(FrameType type, byte[] payload)
    {
        switch (type)
        {
            case FrameType.SnapshotPages:
                _inbox.Enqueue((payload, 0, null, null, true));
                break;
            case FrameType.Snapshot:
                long first = BinaryPrimitives.ReadInt64LittleEndian(payload);
                Interlocked.Exchange(ref _releasedSeq, (long)BinaryPrimitives.ReadUInt64LittleEndian(payload.AsSpan(8)));
                _inbox.Enqueue((payload[16..], first, null, null, false));
                break;
            case FrameType.Segment:
                Interlocked.Exchange(ref _releasedSeq, (long)BinaryPrimitives.ReadUInt64LittleEndian(payload));
                var segment = LogCodec.Decode(payload.AsSpan(8), "segment from primary");
                _inbox.Enqueue((null, 0, segment, null, false));
                // Acknowledge on receipt: the output rule needs the log to be here, not yet replayed.
                SendAck(segment.EndEntryIndex, segment.Horizon);
                break;
            case FrameType.DeliveryMarks:
                _filter.Apply(payload);
                return;
            case FrameType.HashCheck:
                _inbox.Enqueue((null, 0, null, BinaryPrimitives.ReadUInt64LittleEndian(payload), false));
                break;
        }
        _wake.Set();
    }

    private long _ackedEntries;
    private ulong _ackedHorizon;

    private void SendAck(long entries, ulong horizon)
    {
        _ackedEntries = entries;
        _ackedHorizon = horizon;
        var ack = new byte[24];
        BinaryPrimitives.WriteInt64LittleEndian(ack, entries);
        BinaryPrimitives.WriteUInt64LittleEndian(ack.AsSpan(8), horizon);
        BinaryPrimitives.WriteUInt64LittleEndian(ack.AsSpan(16), (ulong)Interlocked.Read(ref _replayedPosition));
        _channel?.Send(FrameType.Ack, ack);
    }

    private void Loop()
    {
        try
        {
            // Polled on this thread rather than accepted asynchronously: an async accept completes on the
            // thread pool, and on a node whose pool is busy the primary's connect timed out meanwhile.
            var deadline = Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency;
            while (!_listener.Server.Poll(TimeSpan.FromMilliseconds(100), SelectMode.SelectRead))
            {
                if (_stopping) return;
                if (Stopwatch.GetTimestamp() < deadline) continue;
                _events.Ended("the primary never connected");
                return;
            }
            if (_stopping) return;
            var socket = _listener.AcceptSocket();
            _listener.Stop();
            _channel = new LockstepChannel(socket, OnFrame, _settings.HeartbeatTimeout);
            Replay();
        }
        catch (Exception e)
        {
            // Stop() closes the listener under a pending accept: that ends this thread, quietly.
            if (!_stopping) _events.Ended($"secondary failed: {e.Message}");
        }
        finally
        {
            // Whatever ended this side, the primary must see the channel go (it then re-protects).
            _channel?.Close("secondary ended");
            _listener.Stop();
        }
    }

    private void Replay()
    {
        Machine? machine = null, pages = null;
        ReplayInputs? replay = null;
        long lastAck = Stopwatch.GetTimestamp();
        while (!_stopping)
        {
            while (_inbox.TryDequeue(out var item))
            {
                if (item.Pages)
                {
                    // RAM copied while the primary ran on: the snapshot that follows completes it.
                    pages = new Machine(_memorySize, new LiveInputs());
                    MachineSnapshot.Restore(pages, item.Snapshot!);
                }
                else if (item.Snapshot is not null)
                {
                    machine = pages ?? new Machine(_memorySize, new LiveInputs());
                    pages = null;
                    MachineSnapshot.Restore(machine, item.Snapshot);
                    replay = new ReplayInputs(item.FirstEntry, machine.Position);
                    machine.SwitchInputs(replay);
                    _unreleased.Clear();
                    SendAck(item.FirstEntry, machine.Position);
                }
                else if (replay is not null && item.Segment is not null)
                {
                    replay.Append(item.Segment);
                }
                else if (machine is not null && item.CheckAt is ulong position)
                {
                    // Later segments are still queued, so replay stops at exactly the checked position.
                    AnswerHashCheck(machine, position);
                }
            }
            if (machine is not null && replay is not null)
            {
                var reason = machine.Run(_settings.SliceInstructions * 4);
                KeepOutputs(machine);
                Interlocked.Exchange(ref _replayedPosition, (long)machine.Position);
                if (reason is StopReason.Budget or StopReason.Output) continue;
            }
            if (Stopwatch.GetElapsedTime(lastAck) >= _settings.HeartbeatInterval)
            {
                // Heartbeat, and fresh replay progress for the lag figure. Before the snapshot there is
                // nothing to acknowledge (an ack would tell the primary it is protected): only "alive".
                if (machine is null) _channel?.Send(FrameType.Waiting, []);
                else SendAck(_ackedEntries, _ackedHorizon);
                lastAck = Stopwatch.GetTimestamp();
            }
            if (_channel is { IsOpen: true } && _channel.SilentFor > _settings.HeartbeatTimeout)
                _channel.Close($"primary silent for {_channel.SilentFor.TotalMilliseconds:F0} ms");
            if (_channel is { IsOpen: false })
            {
                if (_channel.ClosedReason == "peer said goodbye" || _stopping || machine is null || replay is null)
                {
                    _events.Ended($"channel closed: {_channel.ClosedReason}");
                    return;
                }
                TakeOver(machine, replay, _channel.ClosedReason ?? "primary lost");
                return;
            }
            _wake.WaitOne(TimeSpan.FromMilliseconds(20));
        }
    }

    private void AnswerHashCheck(Machine machine, ulong position)
    {
        machine.RunUntilStopped(Keep);
        var payload = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, machine.Position);
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(8), machine.Position == position ? StateHash.Compute(machine) : 0);
        _channel?.Send(FrameType.HashResult, payload);
    }

    private void KeepOutputs(Machine machine)
    {
        long released = Interlocked.Read(ref _releasedSeq);
        _unreleased.RemoveAll(o => (long)o.Seq < released);
        foreach (var output in machine.Outputs) Keep(output);
        machine.Outputs.Clear();
    }

    /// <summary>Keeps a suppressed output the primary has not reported released, dropping those it since has.</summary>
    private void Keep(MachineOutput output)
    {
        long released = Interlocked.Read(ref _releasedSeq);
        _unreleased.RemoveAll(o => (long)o.Seq < released);
        if ((long)output.Seq >= released) _unreleased.Add(output);
    }

    /// <summary>Replays everything received, then tries to become the one live side.</summary>
    private void TakeOver(Machine machine, ReplayInputs replay, string reason)
    {
        var detected = Stopwatch.StartNew();
        double silentMs = _channel?.SilentFor.TotalMilliseconds ?? 0;
        while (_inbox.TryDequeue(out var item))
            if (item.Segment is not null) replay.Append(item.Segment);
        machine.RunUntilStopped(Keep);
        bool won = _claims.Claim(_name, _generation + 1, _owner, () => _stopping,
            e => _events.Warning($"{_name}: takeover waits for the claims storage: {e.Message}"));
        if (_stopping) return;
        if (!won)
        {
            _events.Ended($"primary lost ({reason}) but generation {_generation + 1} was claimed by {_claims.OwnerOf(_name, _generation + 1)}");
            return;
        }
        double gapMs = silentMs + detected.Elapsed.TotalMilliseconds;
        _events.Promoted(machine, _generation + 1, replay.NextEntryIndex, (ulong)Interlocked.Read(ref _releasedSeq),
            _unreleased.ToList(), _filter, reason, gapMs);
    }
}
