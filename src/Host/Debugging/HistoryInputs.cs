using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;

namespace Lockstep.Host.Debugging;

/// <summary>
/// Where a debugged machine's inputs come from. A recording can be resumed from any checkpoint
/// (the timeline can go backwards); a live run cannot.
/// </summary>
public interface IHistoryInputs
{
    bool CanRewind { get; }

    /// <summary>A fresh input source for a machine just restored to a checkpoint at <paramref name="position"/>.</summary>
    InputSource ResumeAt(ulong position, long entryIndex);

    /// <summary>Where in the inputs the machine is, to be stored with a checkpoint.</summary>
    long EntryIndex(InputSource current);

    /// <summary>The first position at or after <paramref name="position"/> at which an asynchronous input may take effect.</summary>
    ulong NextAsyncInputAtOrAfter(ulong position);

    /// <summary>Called when the machine sleeps in wfi; returns once something may have changed.</summary>
    void AwaitInput(Machine machine);
}

/// <summary>The inputs of a recording (a log file, or an export's log, whose first entry need not be #0), from any entry on.</summary>
public sealed class RecordedInputs : IHistoryInputs
{
    private readonly long _firstEntryIndex;
    private readonly LogEntry[] _entries;
    private readonly ulong[] _asyncPositions;
    private readonly LogSegment _last;

    public RecordedInputs(IReadOnlyList<LogSegment> segments)
    {
        if (segments.Count == 0) throw new ArgumentException("a recording has at least one segment", nameof(segments));
        _firstEntryIndex = segments[0].FirstEntryIndex;
        _entries = segments.SelectMany(s => s.Entries).ToArray();
        _asyncPositions = _entries.Where(e => !e.IsRead).Select(e => e.Position).ToArray();
        _last = segments[^1];
    }

    public bool CanRewind => true;

    /// <summary>The position the recording ends at.</summary>
    public ulong Horizon => _last.Horizon;

    public ReplayInputs FromStart() => (ReplayInputs)ResumeAt(0, 0);

    public InputSource ResumeAt(ulong position, long entryIndex)
    {
        var inputs = new ReplayInputs(entryIndex, position);
        inputs.Append(new LogSegment(entryIndex, _last.Horizon, _entries[(int)(entryIndex - _firstEntryIndex)..], _last.Final, _last.FinalStateHash));
        return inputs;
    }

    public long EntryIndex(InputSource current) => ((ReplayInputs)current).NextEntryIndex;

    public ulong NextAsyncInputAtOrAfter(ulong position)
    {
        int at = Array.BinarySearch(_asyncPositions, position);
        if (at >= 0) return position;
        return ~at < _asyncPositions.Length ? _asyncPositions[~at] : ulong.MaxValue;
    }

    /// <summary>Replay never sleeps with inputs still to come (the machine reports that as a divergence).</summary>
    public void AwaitInput(Machine machine) { }
}

/// <summary>A live, unrecorded run: forwards only, and the world may interrupt at any boundary.</summary>
public sealed class LiveHistory(LiveInputs inputs) : IHistoryInputs
{
    private static readonly TimeSpan PollSleep = TimeSpan.FromMilliseconds(10);

    public bool CanRewind => false;

    public InputSource ResumeAt(ulong position, long entryIndex) => throw new InvalidOperationException("a live run cannot go back");

    public long EntryIndex(InputSource current) => 0;

    public ulong NextAsyncInputAtOrAfter(ulong position) => position;

    public void AwaitInput(Machine machine)
    {
        var sleep = inputs.UntilTimer(machine);
        if (sleep > PollSleep) sleep = PollSleep;
        if (sleep > TimeSpan.Zero) Thread.Sleep(sleep);
    }
}
