using System.Collections.Concurrent;
using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;
using Lockstep.Replication.Scheduling;

namespace Lockstep.Replication.Secondary;

/// <summary>
/// Replays the primary's log in steps on the node's VM threads. It admits only the primary that presents this
/// attach's token, starts from the snapshot sent first, acknowledges every segment on receipt,
/// and keeps its own (suppressed) outputs that the primary may not have released yet. It may take over only once
/// the primary has given it authority (<see cref="AuthorityFrame"/>: before that, the primary's outputs did not wait
/// for it). When the channel drops (or its link goes silent) it replays all it has and, with authority, reports the
/// loss with the machine; it never claims or goes live itself.
/// </summary>
/// <remarks>
/// Threads and who owns what. "The replay thread" is whichever thread of the <see cref="VmScheduler"/> runs
/// <see cref="Step"/> (never two at once; each step sees what the previous one wrote): it owns the
/// machine, the replay inputs and the kept outputs.
/// The link's reader thread sets the channel reference (before any frame of it), queues frames in
/// <see cref="_inbox"/>, applies delivery marks (the filter is thread-safe), sends the acks on receipt,
/// and is the only writer of <see cref="_acked"/> and <see cref="_releasedSeq"/>. The replay thread is
/// the only writer of <see cref="_replayedPosition"/>. Nothing polls: the loop sleeps until a frame, the
/// channel's opening or end, <see cref="Stop"/>, or (before the primary came) the connect deadline wakes it.
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
    private readonly ScheduledVm _vm;
    private readonly List<MachineOutput> _unreleased = [];
    private readonly DeliveryFilter _filter = new();
    private volatile LinkChannel? _channel;
    private volatile ExpectedChannel? _expected;
    private volatile Acked? _acked; // null until the snapshot came: nothing to acknowledge before
    private volatile bool _authoritative; // the reader's: set before it acknowledges anything after the authority frame
    private long _releasedSeq;
    private long _replayedPosition;
    private volatile bool _stopping;

    // The replay thread's (see the remarks).
    private Machine? _machine, _pages;
    private ReplayInputs? _replay;
    private bool _inSync;
    private long _connectDeadline;
    private bool _handedOver; // the machine went with a handover: nothing more to replay or to report as lost

    private sealed record Acked(long Entries, ulong Horizon);

    /// <summary>How long to wait for the primary to connect before giving up.</summary>
    public static readonly TimeSpan ConnectWait = TimeSpan.FromSeconds(10);

    /// <param name="engine">The node's replication engine: the primary opens this VM's channel on the link from its node, and the VM threads run this loop's steps.</param>
    public ReplayLoop(string name, uint memorySize, ReplicationEngine engine, AttachToken token, LockstepSettings settings, ISecondaryFacts facts)
    {
        var links = engine.Links;
        _vm = engine.Scheduler.Add($"vm-{name}-secondary", Step);
        _name = name;
        _memorySize = memorySize;
        _settings = settings;
        _facts = facts;
        _links = links;
        _token = token;
    }

    /// <summary>Expects the primary (its token) on the node's links and starts the loop; returns the port the primary should connect to.</summary>
    /// <exception cref="ObjectDisposedException">The node's links are closed (the node is stopping).</exception>
    public int Start()
    {
        _connectDeadline = Stopwatch.GetTimestamp() + ToTicks(ConnectWait);
        _expected = _links.Expect(_name, _token, channel =>
        {
            _channel = channel;
            _vm.Wake();
        }, OnFrame, _vm.Wake, _facts.Refused);
        _vm.Start();
        return _links.Port;
    }

    /// <summary>Stops without taking over (the VM was stopped, or this secondary was replaced); any thread.</summary>
    public void Stop()
    {
        _stopping = true;
        _expected?.Dispose();
        _channel?.Close(CloseReason.Local, "secondary stopped");
        _vm.Wake();
    }

    /// <summary>
    /// After <see cref="ISecondaryFacts.HandedOver"/>, once the next generation is this side's: tells the old primary in good
    /// order (a goodbye) that this side took over, so it stops without claiming, and ends; any thread.
    /// </summary>
    public void ConfirmTakeover()
    {
        _channel?.SayGoodbye();
        Stop();
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
            case AuthorityFrame authority when _acked is not null:
                // Before the answer and any later ack: an output the primary releases on those must find this side able to take over.
                _authoritative = true;
                _channel?.Send(new AuthorityTakenFrame(authority.Position));
                break; // wakes the replay thread, which reports it in sync
            case SnapshotPagesFrame or HashCheckFrame or HandoverFrame:
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

    /// <summary>
    /// One turn of what was the replay thread's loop: waiting for the primary to open the channel, then
    /// the frames received, a slice of replay, the channel's health. Where that loop waited, the step
    /// returns and the scheduler sleeps the loop until something wakes it.
    /// </summary>
    private VmStep Step()
    {
        try
        {
            if (_stopping) return End();
            if (_handedOver) return VmStep.Wait; // the channel stays until the takeover is confirmed or given up (Stop)
            var channel = _channel;
            if (channel is null)
            {
                if (Stopwatch.GetTimestamp() < _connectDeadline) return VmStep.SleepUntil(_connectDeadline);
                _facts.Ended(null, "the primary never connected");
                return End();
            }
            if (_expected is { } expected)
            {
                // Once: disposing takes the node links' lock, which every link reader needs too.
                expected.Dispose();
                _expected = null;
            }
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
                    case HandoverFrame handover when _machine is not null && _replay is not null:
                        return TakeHandover(handover, _machine, _replay);
                }
            }
            if (_machine is not null && _authoritative && !_inSync)
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
            if (!channel.IsOpen)
            {
                var reason = channel.ClosedReason ?? CloseReason.ConnectionLost;
                string detail = channel.ClosedDetail ?? "channel closed";
                if (reason == CloseReason.PeerSaidGoodbye || _stopping || _machine is null || _replay is null)
                {
                    if (!_stopping) _facts.Ended(reason, $"channel closed: {detail}");
                    return End();
                }
                if (!_authoritative)
                {
                    // Still being seeded: the primary's outputs did not wait for this side, which may not hold them.
                    _facts.Ended(reason, $"channel closed before the primary gave this secondary authority to take over: {detail}");
                    return End();
                }
                _facts.PrimaryLost(reason, detail, CatchUp(_machine, _replay, channel));
                return End();
            }
            return VmStep.Wait;
        }
        catch (Exception e)
        {
            if (!_stopping) _facts.Ended(null, $"secondary failed: {e.Message}");
            return End();
        }
    }

    /// <summary>
    /// The primary stopped at the handover's position with everything acknowledged and released: replayed to there, this
    /// side holds exactly its state, and reports it with the machine. A replay that ends elsewhere cannot take over.
    /// </summary>
    private VmStep TakeHandover(HandoverFrame handover, Machine machine, ReplayInputs replay)
    {
        machine.RunUntilStopped(Keep);
        Interlocked.Exchange(ref _replayedPosition, (long)machine.Position);
        if (machine.Position != handover.Position || replay.NextEntryIndex != handover.NextEntryIndex)
        {
            _facts.Ended(null, $"handover at instruction {handover.Position} (log entry {handover.NextEntryIndex}), but replay stopped at "
                + $"{machine.Position} (log entry {replay.NextEntryIndex}); not taking over");
            return End();
        }
        Interlocked.Exchange(ref _releasedSeq, (long)handover.ReleasedSeq);
        DropReleased();
        _handedOver = true;
        _facts.HandedOver(new Takeover(machine, replay.NextEntryIndex, handover.ReleasedSeq, _unreleased.ToList(), _filter, 0, Stopwatch.GetTimestamp()));
        return VmStep.Wait;
    }

    private VmStep End()
    {
        // Whatever ended this side, the primary must see the channel go (it then re-protects).
        _expected?.Dispose();
        _channel?.Close(CloseReason.Local, "secondary ended");
        return VmStep.Finished;
    }

    private static long ToTicks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

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
