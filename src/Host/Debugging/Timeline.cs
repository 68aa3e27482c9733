using System.Buffers.Binary;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Host.Debugging;

/// <summary>
/// A machine that can be moved to any point of its recorded execution, forwards and backwards.
/// Going forwards it takes a full snapshot (a checkpoint) at every multiple of
/// <see cref="CheckpointInterval"/> instructions; going back to position P restores the latest
/// checkpoint at or before P and replays forward to P, so a step back costs at most one interval
/// of replay, never a replay from the start.
/// </summary>
/// <remarks>
/// Breakpoints and watchpoints stop exactly where single-stepping the machine would (the state
/// before the instruction at the breakpoint's address; the state before the instruction making a
/// watched access). Without an engine hook the debugger gets there by running the machine in
/// stretches it can prove visit consecutive pcs (<see cref="StretchLength"/>), and, for write
/// watches, in long chunks whose dirty pages show whether a watched word may have been written.
/// A guest output is shown the first time its sequence number comes up: re-executing after a
/// step back shows nothing twice, and nothing is ever sent anywhere.
/// </remarks>
public sealed class Timeline
{
    /// <summary>4 M instructions: a few milliseconds of replay at the machine's speed (docs/benchmarks.md).</summary>
    public const ulong DefaultCheckpointInterval = 4_000_000;

    /// <summary>Checkpoints beyond this much memory are thinned out: every other one goes and the interval doubles.</summary>
    public const long DefaultCheckpointBudget = 1L << 30;

    /// <summary>Stretches stay short so that breakpoints and Ctrl-C are looked at often.</summary>
    private const ulong MaxStretch = 256;
    /// <summary>Without breakpoints or watchpoints the machine runs this much between looks at Ctrl-C.</summary>
    private const ulong FreeRunSlice = 1 << 20;
    /// <summary>
    /// Write watches: a chunk runs at full speed when it leaves the watched pages clean. Chunks
    /// start short (a dirty one is gone through again instruction by instruction) and double
    /// while they stay clean, so that the snapshot each one starts with costs little.
    /// </summary>
    private const ulong FirstWatchChunk = 1 << 16, LongestWatchChunk = 1 << 24;

    private ulong _watchChunk = FirstWatchChunk;

    private readonly record struct Checkpoint(ulong Position, byte[] State, long EntryIndex);

    private readonly Machine _machine;
    private readonly IHistoryInputs _inputs;
    private readonly Action<MachineOutput> _show;
    private readonly List<Checkpoint> _checkpoints = [];
    private readonly long _checkpointBudget;
    private ulong _nextShownSeq;

    public Timeline(Machine machine, IHistoryInputs inputs, Action<MachineOutput> show, ulong checkpointInterval = DefaultCheckpointInterval,
        long checkpointBudget = DefaultCheckpointBudget)
    {
        ArgumentOutOfRangeException.ThrowIfZero(checkpointInterval);
        _machine = machine;
        _inputs = inputs;
        _show = show;
        _checkpointBudget = checkpointBudget;
        CheckpointInterval = checkpointInterval;
        _nextShownSeq = machine.NextOutputSeq;
        StartPosition = machine.Position;
        if (inputs.CanRewind) AddCheckpoint();
    }

    public Machine Machine => _machine;
    public ulong Position => _machine.Position;
    public ulong StartPosition { get; }
    public ulong CheckpointInterval { get; private set; }
    public bool CanRewind => _inputs.CanRewind;
    public int CheckpointCount => _checkpoints.Count;
    public long CheckpointBytes { get; private set; }

    /// <summary>Nothing more can run: the end of the recorded history, or the guest halted or faulted.</summary>
    public bool AtEnd => _machine.IsHalted || _machine.Position >= _machine.Inputs.Horizon;

    /// <summary>Moves to exactly <paramref name="target"/>, or to the end of the history if that comes first.</summary>
    public StopEvent SeekTo(ulong target)
    {
        if (CanRewind && (target < Position || LatestCheckpointAtOrBefore(target).Position > Position))
            Restore(LatestCheckpointAtOrBefore(target));
        while (Position < target && !AtEnd)
            if (RunSome(target - Position) == StopReason.Waiting) break;
        return Position == target ? StopEvent.Arrived : EndEvent();
    }

    /// <summary>One instruction forwards; a watched access by that instruction is reported before it runs, as hardware does.</summary>
    public StopEvent Step(StopConditions conditions)
    {
        if (AtEnd) return EndEvent();
        if (WatchAtPc(conditions) is { } hit) return hit;
        RunSome(1);
        return StopEvent.Arrived;
    }

    public StopEvent ReverseStep()
    {
        if (!CanRewind) throw new InvalidOperationException("a live run cannot go back");
        if (Position <= StartPosition) return new StopEvent(StopKind.HistoryBegin);
        return SeekTo(Position - 1);
    }

    /// <summary>Runs forwards to the next breakpoint (not the one at the current pc) or watched access, or the end.</summary>
    public StopEvent Continue(StopConditions conditions, Func<bool> interrupted) =>
        FindNext(conditions, ulong.MaxValue, breakAtStart: false, watchAtStart: true, interrupted);

    /// <summary>
    /// Goes back to the last breakpoint hit or watched access before the current position: each
    /// checkpoint interval is replayed forwards, latest first, and the last hit in the first
    /// interval that has one wins. A watched access is reported just after the instruction that
    /// made it: gdb steps back over it, as it steps forwards over one reported before it.
    /// </summary>
    public StopEvent ReverseContinue(StopConditions conditions, Func<bool> interrupted)
    {
        if (!CanRewind) throw new InvalidOperationException("a live run cannot go back");
        ulong from = Position, upper = from;
        for (int i = _checkpoints.Count - 1; i >= 0; i--)
        {
            var checkpoint = _checkpoints[i];
            if (checkpoint.Position >= upper) continue;
            Restore(checkpoint);
            (ulong At, StopEvent Event)? last = null;
            bool atCheckpoint = true;
            while (true)
            {
                var found = FindNext(conditions, upper, breakAtStart: atCheckpoint, watchAtStart: atCheckpoint, interrupted);
                atCheckpoint = false;
                if (found.Kind == StopKind.Interrupted)
                {
                    SeekTo(from);
                    return found;
                }
                if (found.Kind is not (StopKind.Breakpoint or StopKind.Watchpoint)) break;
                last = (Position, found);
            }
            if (last is { } hit)
            {
                SeekTo(hit.Event.Kind == StopKind.Watchpoint ? hit.At + 1 : hit.At);
                return hit.Event;
            }
            upper = checkpoint.Position;
        }
        SeekTo(StartPosition);
        return new StopEvent(StopKind.HistoryBegin);
    }

    /// <summary>
    /// Runs to just after the next instruction that changes guest RAM in [address, address + length);
    /// null at the end of the history. The bytes are compared after every instruction of any
    /// chunk that dirtied the page, so writes by devices (a received packet) count too.
    /// </summary>
    public ByteChange? NextChange(uint address, uint length)
    {
        var before = new byte[length];
        var after = new byte[length];
        if (!_machine.TryReadRam(address, before)) throw new ArgumentOutOfRangeException(nameof(address), $"0x{address:x8}+{length} is not guest RAM");
        ulong exactUntil = Position;
        while (!AtEnd)
        {
            if (Position >= exactUntil && CanRewind)
            {
                exactUntil = RunChunkUnlessWritten([(address, length)], ulong.MaxValue) ?? Position;
                continue;
            }
            ulong at = Position;
            uint pc = _machine.Pc;
            RunSome(1);
            _machine.TryReadRam(address, after);
            if (!before.AsSpan().SequenceEqual(after)) return new ByteChange(at + 1, pc, before, after);
        }
        return null;
    }

    public bool TryReadMemory(uint address, Span<byte> destination) => _machine.TryReadRam(address, destination);

    private StopEvent FindNext(StopConditions conditions, ulong limit, bool breakAtStart, bool watchAtStart, Func<bool> interrupted)
    {
        ulong start = Position, exactUntil = Position;
        bool chunked = CanRewind && conditions.OnlyWriteWatches && conditions.Watches.TrueForAll(w => IsRam(w.Address, w.Length));
        var watchedRanges = conditions.Watches.Select(w => (w.Address, w.Length)).ToList();
        int looks = 0;
        while (true)
        {
            if (AtEnd) return EndEvent();
            if (Position >= limit) return StopEvent.Arrived;
            bool atStart = Position == start;
            if ((!atStart || breakAtStart) && conditions.Breakpoints.Contains(_machine.Pc)) return new StopEvent(StopKind.Breakpoint);
            if ((!atStart || watchAtStart) && WatchAtPc(conditions) is { } hit) return hit;
            if (((++looks & 255) == 0 || _machine.IsWaiting) && interrupted()) return new StopEvent(StopKind.Interrupted);
            if (conditions.IsEmpty)
            {
                RunSome(Math.Min(limit - Position, FreeRunSlice));
                if (interrupted()) return new StopEvent(StopKind.Interrupted);
                continue;
            }
            if (chunked && Position >= exactUntil && !atStart)
            {
                exactUntil = RunChunkUnlessWritten(watchedRanges, limit) ?? Position;
                continue;
            }
            RunSome(StretchLength(conditions, limit));
        }
    }

    /// <summary>
    /// How many instructions from here surely run one after another at consecutive pcs, ending
    /// at the first one that may go elsewhere (included) or before a breakpoint or a load or
    /// store a watch must look at. Interrupts are the other way off a straight line: a stretch
    /// is longer than one instruction only when none is pending and no asynchronous input of
    /// the history falls inside it.
    /// </summary>
    private ulong StretchLength(StopConditions conditions, ulong limit)
    {
        ulong position = Position, max = Math.Min(limit - position, MaxStretch);
        if (max <= 1 || _machine.IsWaiting || _machine.PendingInterrupts != 0) return 1;
        max = Math.Min(max, _inputs.NextAsyncInputAtOrAfter(position) - position);
        if (max <= 1) return 1;
        uint pc = _machine.Pc;
        Span<byte> word = stackalloc byte[4];
        for (ulong k = 0; k < max; k++)
        {
            uint at = pc + 4 * (uint)k;
            if (k > 0 && conditions.Breakpoints.Contains(at)) return k;
            if (!_machine.TryReadRam(at, word)) return Math.Max(k, 1);
            uint bits = BinaryPrimitives.ReadUInt32LittleEndian(word);
            if (InstructionShape.FallsThrough(bits)) continue;
            bool mustLook = conditions.Watches.Count > 0 && InstructionShape.AccessOf(bits, _ => 0) is not null;
            return mustLook && k > 0 ? k : k + 1;
        }
        return max;
    }

    /// <summary>
    /// Runs one chunk at full speed. When it wrote a page of a watched range, the machine is put
    /// back where it was and the position up to which the caller must go instruction by
    /// instruction is returned (the chunk's end; none yet after a long chunk, which is retried in
    /// short ones); otherwise null.
    /// </summary>
    private ulong? RunChunkUnlessWritten(IReadOnlyList<(uint Address, uint Length)> ranges, ulong limit)
    {
        ulong end = Math.Min(limit, Position + _watchChunk);
        var before = Capture();
        _machine.ClearDirtyPages();
        while (Position < end && !AtEnd) RunSome(end - Position);
        var dirty = _machine.DirtyPages().ToHashSet();
        bool written = ranges.Any(r => PagesOf(r.Address, r.Length).Any(dirty.Contains));
        if (!written)
        {
            _watchChunk = Math.Min(_watchChunk * 2, LongestWatchChunk);
            return null;
        }
        Restore(before);
        if (_watchChunk > FirstWatchChunk)
        {
            // Go through the same instructions again in short chunks: only a short dirty one is stepped.
            _watchChunk = FirstWatchChunk;
            return Position;
        }
        return end;
    }

    private StopEvent? WatchAtPc(StopConditions conditions)
    {
        if (conditions.Watches.Count == 0) return null;
        Span<byte> word = stackalloc byte[4];
        if (!_machine.TryReadRam(_machine.Pc, word)) return null;
        var access = InstructionShape.AccessOf(BinaryPrimitives.ReadUInt32LittleEndian(word), r => _machine[r]);
        if (access is not { } made || conditions.WatchTriggeredBy(made) is not { } watch) return null;
        return new StopEvent(StopKind.Watchpoint, watch, Math.Max(made.Address, watch.Address));
    }

    /// <summary>Runs at most <paramref name="count"/> instructions, stopping at the next checkpoint due, and shows new outputs.</summary>
    private StopReason RunSome(ulong count)
    {
        ulong due = CanRewind ? NextCheckpointDue() : ulong.MaxValue;
        var reason = _machine.Run(Math.Min(count, due - Position));
        foreach (var output in _machine.Outputs)
        {
            if (output.Seq < _nextShownSeq) continue;
            _show(output);
            _nextShownSeq = output.Seq + 1;
        }
        _machine.Outputs.Clear();
        if (Position == due) AddCheckpoint();
        if (reason == StopReason.Waiting) _inputs.AwaitInput(_machine);
        return reason;
    }

    /// <summary>
    /// Keeps a checkpoint at every multiple of the interval up to the furthest point reached; past
    /// the memory budget, only those at multiples of twice the interval stay (the first always).
    /// </summary>
    private void AddCheckpoint()
    {
        var checkpoint = Capture();
        _checkpoints.Add(checkpoint);
        CheckpointBytes += checkpoint.State.Length;
        while (CheckpointBytes > _checkpointBudget && _checkpoints.Count > 2)
        {
            CheckpointInterval *= 2;
            _checkpoints.RemoveAll(c => c.Position != StartPosition && c.Position % CheckpointInterval != 0);
            CheckpointBytes = _checkpoints.Sum(c => (long)c.State.Length);
        }
    }

    private ulong NextCheckpointDue() => (_checkpoints[^1].Position / CheckpointInterval + 1) * CheckpointInterval;

    private StopEvent EndEvent() => new(CanRewind || !_machine.IsHalted ? StopKind.HistoryEnd : StopKind.Exited);

    private Checkpoint LatestCheckpointAtOrBefore(ulong position)
    {
        int low = 0, high = _checkpoints.Count - 1;
        while (low < high)
        {
            int mid = (low + high + 1) / 2;
            if (_checkpoints[mid].Position <= position) low = mid;
            else high = mid - 1;
        }
        return _checkpoints[low];
    }

    private Checkpoint Capture() => new(Position, MachineSnapshot.CaptureFull(_machine), _inputs.EntryIndex(_machine.Inputs));

    private void Restore(Checkpoint checkpoint)
    {
        MachineSnapshot.Restore(_machine, checkpoint.State);
        _machine.SwitchInputs(_inputs.ResumeAt(checkpoint.Position, checkpoint.EntryIndex));
    }

    private bool IsRam(uint address, uint length) =>
        address - MemoryMap.RamBase < _machine.RamSize && length <= _machine.RamSize - (address - MemoryMap.RamBase);

    private static IEnumerable<int> PagesOf(uint address, uint length)
    {
        uint first = (address - MemoryMap.RamBase) >> MemoryMap.PageShift, last = (address - MemoryMap.RamBase + length - 1) >> MemoryMap.PageShift;
        for (uint page = first; page <= last; page++) yield return (int)page;
    }
}

/// <summary>Guest RAM that changed: <see cref="Position"/> counts the instruction at <see cref="Pc"/> that changed it.</summary>
public sealed record ByteChange(ulong Position, uint Pc, byte[] Before, byte[] After);
