using System.Collections.Concurrent;
using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Scheduling;

namespace Lockstep.Replication.Secondary;

/// <summary>
/// Replays the primary's log in steps on the node's VM threads. It admits only the primary that presents this
/// attach's token, starts from the snapshot sent first, acknowledges every segment on receipt,
/// and keeps its own (suppressed) outputs that the primary may not have released yet. When the
/// channel drops or goes silent it replays all it has and reports the loss with the machine; it
/// never claims or goes live itself.
/// </summary>
/// <remarks>
/// Threads and who owns what. A short-lived accept thread waits for the primary (a blocking select),
/// sets the channel reference before the reader starts, and only then hands the loop to the
/// <see cref="VmScheduler"/>. "The replay thread" is from then on whichever VM thread runs
/// <see cref="Step"/> (never two at once; each step sees what the previous one wrote): it owns the
/// machine, the replay inputs and the kept outputs. The channel's reader thread decodes frames,
/// queues them in <see cref="_inbox"/> and wakes the loop, applies delivery marks (the filter is
/// thread-safe), and is the only writer of <see cref="_acked"/> and <see cref="_releasedSeq"/>. The
/// replay thread is the only writer of <see cref="_replayedPosition"/>.
/// </remarks>
public sealed class ReplayLoop
{
    private readonly string _name;
    private readonly uint _memorySize;
    private readonly LockstepSettings _settings;
    private readonly ISecondaryFacts _facts;
    private readonly string _host;
    private readonly AttachToken _token;
    private readonly ConcurrentQueue<Frame> _inbox = new();
    private readonly ScheduledVm _vm;
    private readonly List<MachineOutput> _unreleased = [];
    private readonly DeliveryFilter _filter = new();
    private volatile LockstepChannel? _channel;
    private volatile Acked? _acked; // null until the snapshot came: heartbeats then say Waiting, never ack
    private long _releasedSeq;
    private long _replayedPosition;
    private volatile bool _stopping;

    // The replay thread's (see the remarks); the accept thread sets the heartbeat clock before handing over.
    private Machine? _machine, _pages;
    private ReplayInputs? _replay;
    private long _lastHeartbeat;
    private bool _inSync;

    private sealed record Acked(long Entries, ulong Horizon);

    /// <summary>How long to wait for the primary to connect before giving up.</summary>
    public static readonly TimeSpan ConnectWait = TimeSpan.FromSeconds(10);

    /// <param name="scheduler">The node's VM threads, which run the replay once the primary is connected.</param>
    public ReplayLoop(string name, uint memorySize, string host, AttachToken token, LockstepSettings settings, ISecondaryFacts facts,
        VmScheduler scheduler)
    {
        _name = name;
        _memorySize = memorySize;
        _settings = settings;
        _facts = facts;
        _host = host;
        _token = token;
        _vm = scheduler.Add($"vm-{name}-secondary", Step);
    }

    /// <summary>Starts listening and the accept thread; returns the port the primary should connect to.</summary>
    /// <exception cref="System.Net.Sockets.SocketException">No port to listen on.</exception>
    public int Start()
    {
        var listener = new ChannelListener(_host, _token);
        listener.Refused += _facts.Refused;
        new Thread(() => Accept(listener)) { IsBackground = true, Name = $"vm-{_name}-accept" }.Start();
        return listener.Port;
    }

    /// <summary>Stops without taking over (the VM was stopped, or this secondary was replaced); any thread.</summary>
    public void Stop()
    {
        _stopping = true;
        _channel?.Close(CloseReason.Local, "secondary stopped");
        _vm.Wake();
    }

    /// <summary>Reader thread.</summary>
    private void OnFrame(Frame frame)
    {
        switch (frame)
        {
            case SnapshotFrame snapshot:
                Interlocked.Exchange(ref _releasedSeq, (long)snapshot.ReleasedSeq);
                _inbox.Enqueue(snapshot);
                // Acknowledged on receipt like a segment: from here this side holds the state the log continues.
                SendAck(new Acked(snapshot.FirstEntryIndex, snapshot.Position));
                break;
            case SegmentFrame segment:
                Interlocked.Exchange(ref _releasedSeq, (long)segment.ReleasedSeq);
                _inbox.Enqueue(segment);
                // Acknowledge on receipt: the output rule needs the log to be here, not yet replayed.
                SendAck(new Acked(segment.Segment.EndEntryIndex, segment.Segment.Horizon));
                break;
            case DeliveryMarksFrame marks:
                _filter.Apply(marks.Marks);
                return;
            case SnapshotPagesFrame or HashCheckFrame:
                _inbox.Enqueue(frame);
                break;
            default:
                return; // nothing else is meant for a secondary
        }
        _vm.Wake();
    }

    private void SendAck(Acked acked)
    {
        _acked = acked;
        _channel?.Send(new AckFrame(acked.Entries, acked.Horizon, (ulong)Interlocked.Read(ref _replayedPosition)));
    }

    /// <summary>The accept thread: waits for the authenticated primary, then hands the replay to the VM threads.</summary>
    private void Accept(ChannelListener listener)
    {
        bool handedOver = false;
        try
        {
            var socket = listener.AcceptPrimary(Stopwatch.GetTimestamp() + (long)(ConnectWait.TotalSeconds * Stopwatch.Frequency), () => _stopping);
            listener.Dispose();
            if (socket is null)
            {
                if (!_stopping) _facts.Ended(null, "the primary never connected");
                return;
            }
            var channel = new LockstepChannel(socket, OnFrame, _settings.HeartbeatTimeout);
            _channel = channel;
            if (_stopping) channel.Close(CloseReason.Local, "secondary stopped");
            // A primary that dies must be noticed at once, not at the next heartbeat: its loss is the failover.
            channel.Closed += _vm.Wake;
            channel.Start();
            _lastHeartbeat = Stopwatch.GetTimestamp();
            handedOver = true;
            _vm.Start();
        }
        catch (Exception e)
        {
            if (!_stopping) _facts.Ended(null, $"secondary failed: {e.Message}");
        }
        finally
        {
            // Whatever ended this side before the replay began, the primary must see the channel go (it then re-protects).
            if (!handedOver) _channel?.Close(CloseReason.Local, "secondary ended");
            listener.Dispose();
        }
    }

    /// <summary>
    /// One turn of what was the replay thread's loop: the frames received, a slice of replay, the
    /// heartbeat, the channel's health. Where that loop waited, the step sleeps until the next
    /// heartbeat is due or the primary's silence would count as its loss, whichever is first.
    /// </summary>
    private VmStep Step()
    {
        try
        {
            if (_stopping) return End();
            var channel = _channel!;
            while (_inbox.TryDequeue(out var frame))
            {
                switch (frame)
                {
                    case SnapshotPagesFrame copied:
                        // RAM copied while the primary ran on: the snapshot that follows completes it.
                        _pages = new Machine(_memorySize, new LiveInputs());
                        MachineSnapshot.Restore(_pages, copied.Pages);
                        break;
                    case SnapshotFrame snapshot:
                        _machine = _pages ?? new Machine(_memorySize, new LiveInputs());
                        _pages = null;
                        MachineSnapshot.Restore(_machine, snapshot.State);
                        _replay = new ReplayInputs(snapshot.FirstEntryIndex, _machine.Position);
                        _machine.SwitchInputs(_replay);
                        _unreleased.Clear();
                        break;
                    case SegmentFrame segment when _replay is not null:
                        _replay.Append(segment.Segment);
                        break;
                    case HashCheckFrame check when _machine is not null:
                        // Later segments are still queued, so replay stops at exactly the checked position.
                        AnswerHashCheck(channel, _machine, check.Position);
                        break;
                }
            }
            if (_machine is not null && !_inSync)
            {
                _inSync = true;
                _facts.InSync();
            }
            if (_machine is not null && _replay is not null)
            {
                var reason = _machine.Run(_settings.SliceInstructions * 4);
                KeepOutputs(_machine);
                Interlocked.Exchange(ref _replayedPosition, (long)_machine.Position);
                if (reason is StopReason.Budget or StopReason.Output) return VmStep.RunAgain;
            }
            if (Stopwatch.GetElapsedTime(_lastHeartbeat) >= _settings.HeartbeatInterval)
            {
                // Heartbeat, and fresh replay progress for the lag figure. Before the snapshot there is
                // nothing to acknowledge (an ack would tell the primary it is protected): only "alive".
                if (_acked is { } acked) channel.Send(new AckFrame(acked.Entries, acked.Horizon, (ulong)Interlocked.Read(ref _replayedPosition)));
                else channel.Send(WaitingFrame.Instance);
                _lastHeartbeat = Stopwatch.GetTimestamp();
            }
            var silent = channel.SilentFor;
            if (channel.IsOpen && silent > _settings.HeartbeatTimeout)
                channel.Close(CloseReason.Silent, $"primary silent for {silent.TotalMilliseconds:F0} ms");
            if (!channel.IsOpen)
            {
                var reason = channel.ClosedReason ?? CloseReason.ConnectionLost;
                string detail = channel.ClosedDetail ?? "channel closed";
                if (reason == CloseReason.PeerSaidGoodbye || _stopping || _machine is null || _replay is null)
                {
                    if (!_stopping) _facts.Ended(reason, $"channel closed: {detail}");
                    return End();
                }
                _facts.PrimaryLost(reason, detail, CatchUp(_machine, _replay, channel));
                return End();
            }
            long heartbeatDue = _lastHeartbeat + ToTicks(_settings.HeartbeatInterval);
            long silenceDue = Stopwatch.GetTimestamp() + ToTicks(_settings.HeartbeatTimeout - silent) + 1;
            return VmStep.SleepUntil(Math.Min(heartbeatDue, silenceDue));
        }
        catch (Exception e)
        {
            if (!_stopping) _facts.Ended(null, $"secondary failed: {e.Message}");
            return End();
        }
    }

    private VmStep End()
    {
        // Whatever ended this side, the primary must see the channel go (it then re-protects).
        _channel?.Close(CloseReason.Local, "secondary ended");
        return VmStep.Finished;
    }

    private static long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    private void AnswerHashCheck(LockstepChannel channel, Machine machine, ulong position)
    {
        machine.RunUntilStopped(Keep);
        channel.Send(new HashResultFrame(machine.Position, machine.Position == position ? StateHash.Compute(machine) : 0));
    }

    private void KeepOutputs(Machine machine)
    {
        foreach (var output in machine.Outputs) Keep(output);
        machine.Outputs.Clear();
        DropReleased();
    }

    /// <summary>Keeps a suppressed output the primary has not reported released.</summary>
    private void Keep(MachineOutput output)
    {
        DropReleased();
        if ((long)output.Seq >= Interlocked.Read(ref _releasedSeq)) _unreleased.Add(output);
    }

    private void DropReleased()
    {
        long released = Interlocked.Read(ref _releasedSeq);
        _unreleased.RemoveAll(o => (long)o.Seq < released);
    }

    /// <summary>Replays everything received: the state a takeover starts from.</summary>
    private Takeover CatchUp(Machine machine, ReplayInputs replay, LockstepChannel channel)
    {
        long detectedAt = Stopwatch.GetTimestamp();
        double silentMs = channel.SilentFor.TotalMilliseconds;
        while (_inbox.TryDequeue(out var frame))
            if (frame is SegmentFrame segment) replay.Append(segment.Segment);
        machine.RunUntilStopped(Keep);
        return new Takeover(machine, replay.NextEntryIndex, (ulong)Interlocked.Read(ref _releasedSeq), _unreleased.ToList(), _filter,
            silentMs, detectedAt);
    }
}
