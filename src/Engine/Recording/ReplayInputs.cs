using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Recording;

/// <summary>
/// Inputs from a log. Segments may keep arriving while the machine runs (a secondary); the
/// machine runs up to the newest segment's horizon and then waits for more. Anything the
/// machine does that the log does not say stops replay with a <see cref="DivergenceException"/>.
/// </summary>
public sealed class ReplayInputs : InputSource
{
    private readonly List<LogEntry> _entries = [];
    private long _firstIndex;
    private int _cursor;
    private ulong _horizon;

    /// <param name="firstEntryIndex">Index of the first entry this replay will get (after a snapshot: the snapshot's log index).</param>
    /// <param name="startPosition">Position of the machine when replay starts.</param>
    public ReplayInputs(long firstEntryIndex = 0, ulong startPosition = 0)
    {
        _firstIndex = firstEntryIndex;
        _horizon = startPosition;
    }

    /// <summary>Index (in the whole log) of the next entry to be consumed.</summary>
    public long NextEntryIndex => _firstIndex + _cursor;

    /// <summary>Index just past the last entry received.</summary>
    public long ReceivedEntryIndex => _firstIndex + _entries.Count;

    public bool IsFinal { get; private set; }
    public ulong? FinalStateHash { get; private set; }
    public override ulong Horizon => _horizon;

    public void Append(LogSegment segment)
    {
        if (IsFinal) throw new InvalidOperationException("the log was already closed by a final segment");
        if (segment.FirstEntryIndex != ReceivedEntryIndex)
            throw new InvalidOperationException($"segment starts at entry #{segment.FirstEntryIndex}, expected #{ReceivedEntryIndex}");
        if (segment.Horizon < _horizon)
            throw new InvalidOperationException($"segment horizon {segment.Horizon} goes back from {_horizon}");
        DropConsumed();
        _entries.AddRange(segment.Entries);
        _horizon = segment.Horizon;
        IsFinal = segment.Final;
        FinalStateHash = segment.FinalStateHash;
    }

    /// <summary>A long-lived replayer (a secondary) must not keep the whole log in memory.</summary>
    private void DropConsumed()
    {
        if (_cursor < 4096) return;
        _entries.RemoveRange(0, _cursor);
        _firstIndex += _cursor;
        _cursor = 0;
    }

    public override ulong ReadMtime(Machine machine) => TakeRead(machine, EntryKind.Mtime).Value;
    public override ulong ReadRtc(Machine machine) => TakeRead(machine, EntryKind.Rtc).Value;
    public override uint ReadRandom(Machine machine) => (uint)TakeRead(machine, EntryKind.Random).Value;

    private LogEntry TakeRead(Machine machine, EntryKind kind)
    {
        if (_cursor >= _entries.Count)
            throw new DivergenceException(NextEntryIndex, $"divergence at instruction {machine.Position} (pc 0x{machine.Pc:x8}): the machine made a {kind} read but the log has no entry #{NextEntryIndex}");
        var entry = _entries[_cursor];
        if (entry.Kind != kind || entry.Position != machine.Position)
            throw new DivergenceException(NextEntryIndex, $"divergence at log entry #{NextEntryIndex} ({entry}): the machine made a {kind} read at instruction {machine.Position} (pc 0x{machine.Pc:x8})");
        _cursor++;
        return entry;
    }

    public override void AtBoundary(Machine machine)
    {
        while (_cursor < _entries.Count)
        {
            var entry = _entries[_cursor];
            if (entry.Position < machine.Position)
                throw new DivergenceException(NextEntryIndex, $"divergence at log entry #{NextEntryIndex} ({entry}): the machine passed instruction {entry.Position} without it (now at {machine.Position}, pc 0x{machine.Pc:x8})");
            if (entry.Position > machine.Position || entry.IsRead) return;
            switch (entry.Kind)
            {
                case EntryKind.Packet: machine.EnqueuePacket(entry.Peer, entry.Data ?? []); break;
                case EntryKind.TimerOn: machine.TimerPending = true; break;
                case EntryKind.TimerOff: machine.TimerPending = false; break;
            }
            _cursor++;
        }
    }

    public override ulong NextBoundary(Machine machine)
    {
        if (_cursor >= _entries.Count) return ulong.MaxValue;
        var entry = _entries[_cursor];
        // A read at P must happen during instruction P: come back right after it to check it did.
        return entry.IsRead ? entry.Position + 1 : entry.Position;
    }

    public override void OnSleepingAt(Machine machine) =>
        throw new DivergenceException(NextEntryIndex, $"divergence at instruction {machine.Position}: the machine sleeps in wfi but the log goes on to {(_cursor < _entries.Count ? _entries[_cursor].ToString() : $"horizon {_horizon}")}");
}
