using System.Collections.Concurrent;
using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Secondary;

/// <summary>
/// Replays the primary's log on its own thread. It admits only the primary that presents this
/// attach's token, starts from the snapshot sent first, acknowledges every segment on receipt,
/// and keeps its own (suppressed) outputs that the primary may not have released yet. When the
/// channel drops (or its link goes silent) it replays all it has and reports the loss with the machine; it
/// never claims or goes live itself.
/// </summary>
/// <remarks>
/// Threads and who owns what: the replay thread owns the machine, the replay inputs and the kept outputs.
/// The link's reader thread sets the channel reference (before any frame of it), queues frames in
/// <see cref="_inbox"/>, applies delivery marks (the filter is thread-safe), sends the acks on receipt,
/// and is the only writer of <see cref="_acked"/> and <see cref="_releasedSeq"/>. The replay thread is
/// the only writer of <see cref="_replayedPosition"/>. Nothing polls: the replay thread sleeps until a
/// frame, the channel's end or <see cref="Stop"/> wakes it.
/// The inbox has no fixed bound: what bounds it is the primary, which ships only while its secondary's
/// replay trails by less than MaxLag (beyond, it slows to a slice per millisecond until acks show progress).
/// </remarks>
public sealed class ReplayLoop
{
    private readonly string _name;
    private readonly uint _memorySize;
    private readonly LockstepSettings _settings;
    private readonly ISecondaryFacts _facts;
    private readonly NodeLinks _links;
    private readonly AttachToken _token;
    private readonly ConcurrentQueue<Frame> _inbox = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly List<MachineOutput> _unreleased = [];
    private readonly DeliveryFilter _filter = new();
    private volatile LinkChannel? _channel;
    private volatile ExpectedChannel? _expected;
    private volatile Acked? _acked; // null until the snapshot came: nothing to acknowledge before
    private long _releasedSeq;
    private long _replayedPosition;
    private volatile bool _stopping;

    private sealed record Acked(long Entries, ulong Horizon);

    /// <summary>How long to wait for the primary to connect before giving up.</summary>
    public static readonly TimeSpan ConnectWait = TimeSpan.FromSeconds(10);

    /// <param name="links">The node's links: the primary opens this VM's channel on the link from its node.</param>
    public ReplayLoop(string name, uint memorySize, NodeLinks links, AttachToken token, LockstepSettings settings, ISecondaryFacts facts)
    {
        _name = name;
        _memorySize = memorySize;
        _settings = settings;
        _facts = facts;
        _links = links;
        _token = token;
    }

    /// <summary>Expects the primary (its token) on the node's links and starts the replay thread; returns the port the primary should connect to.</summary>
    /// <exception cref="ObjectDisposedException">The node's links are closed (the node is stopping).</exception>
    public int Start()
    {
        _expected = _links.Expect(_name, _token, channel =>
        {
            _channel = channel;
            _wake.Set();
        }, OnFrame, () => _wake.Set(), _facts.Refused);
        new Thread(Loop) { IsBackground = true, Name = $"vm-{_name}-secondary" }.Start();
        return _links.Port;
    }

    /// <summary>Stops without taking over (the VM was stopped, or this secondary was replaced); any thread.</summary>
    public void Stop()
    {
        _stopping = true;
        _expected?.Dispose();
        _channel?.Close(CloseReason.Local, "secondary stopped");
        _wake.Set();
    }

    /// <summary>Reader thread: only queues, acknowledges and applies marks (every VM on the link waits behind it).</summary>
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
        _wake.Set();
    }

    private void SendAck(Acked acked)
    {
        _acked = acked;
        _channel?.Send(new AckFrame(acked.Entries, acked.Horizon, (ulong)Interlocked.Read(ref _replayedPosition)));
    }

    private void Loop()
    {
        try
        {
            long deadline = Stopwatch.GetTimestamp() + (long)(ConnectWait.TotalSeconds * Stopwatch.Frequency);
            for (long left; _channel is null && !_stopping && (left = deadline - Stopwatch.GetTimestamp()) > 0;)
                _wake.WaitOne(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency));
            _expected?.Dispose();
            var channel = _channel;
            if (channel is null)
            {
                if (!_stopping) _facts.Ended(null, "the primary never connected");
                return;
            }
            if (_stopping) channel.Close(CloseReason.Local, "secondary stopped");
            Replay(channel);
        }
        catch (Exception e)
        {
            if (!_stopping) _facts.Ended(null, $"secondary failed: {e.Message}");
        }
        finally
        {
            // Whatever ended this side, the primary must see the channel go (it then re-protects).
            _expected?.Dispose();
            _channel?.Close(CloseReason.Local, "secondary ended");
        }
    }

    private void Replay(LinkChannel channel)
    {
        Machine? machine = null, pages = null;
        ReplayInputs? replay = null;
        bool inSync = false;
        while (!_stopping)
        {
            while (_inbox.TryDequeue(out var frame))
            {
                switch (frame)
                {
                    case SnapshotPagesFrame copied:
                        // RAM copied while the primary ran on: the snapshot that follows completes it.
                        pages = new Machine(_memorySize, new LiveInputs());
                        MachineSnapshot.Restore(pages, copied.Pages);
                        break;
                    case SnapshotFrame snapshot:
                        machine = pages ?? new Machine(_memorySize, new LiveInputs());
                        pages = null;
                        MachineSnapshot.Restore(machine, snapshot.State);
                        replay = new ReplayInputs(snapshot.FirstEntryIndex, machine.Position);
                        machine.SwitchInputs(replay);
                        _unreleased.Clear();
                        break;
                    case SegmentFrame segment when replay is not null:
                        replay.Append(segment.Segment);
                        break;
                    case HashCheckFrame check when machine is not null:
                        // Later segments are still queued, so replay stops at exactly the checked position.
                        AnswerHashCheck(channel, machine, check.Position);
                        break;
                }
            }
            if (machine is not null && !inSync)
            {
                inSync = true;
                _facts.InSync();
            }
            if (machine is not null && replay is not null)
            {
                var reason = machine.Run(_settings.SliceInstructions * 4);
                KeepOutputs(machine);
                Interlocked.Exchange(ref _replayedPosition, (long)machine.Position);
                if (reason is StopReason.Budget or StopReason.Output) continue;
            }
            if (!channel.IsOpen)
            {
                var reason = channel.ClosedReason ?? CloseReason.ConnectionLost;
                string detail = channel.ClosedDetail ?? "channel closed";
                if (reason == CloseReason.PeerSaidGoodbye || _stopping || machine is null || replay is null)
                {
                    if (!_stopping) _facts.Ended(reason, $"channel closed: {detail}");
                    return;
                }
                _facts.PrimaryLost(reason, detail, CatchUp(machine, replay, channel));
                return;
            }
            _wake.WaitOne();
        }
    }

    private void AnswerHashCheck(LinkChannel channel, Machine machine, ulong position)
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
    private Takeover CatchUp(Machine machine, ReplayInputs replay, LinkChannel channel)
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
