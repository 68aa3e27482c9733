namespace Lockstep.Engine.Recording;

/// <summary>Collects the entries a live source records and cuts them into segments.</summary>
public sealed class EventRecorder
{
    private readonly List<LogEntry> _pending = [];

    public EventRecorder(long firstEntryIndex = 0) => NextSegmentStart = firstEntryIndex;

    /// <summary>Index the next segment will start at: entries before it have been cut.</summary>
    public long NextSegmentStart { get; private set; }

    /// <summary>Total number of entries recorded, cut or not.</summary>
    public long EntryCount => NextSegmentStart + _pending.Count;

    public int PendingCount => _pending.Count;

    public void Append(in LogEntry entry) => _pending.Add(entry);

    public LogSegment Cut(ulong horizon, bool final = false, ulong? finalStateHash = null)
    {
        var segment = new LogSegment(NextSegmentStart, horizon, _pending.ToArray(), final, finalStateHash);
        NextSegmentStart += _pending.Count;
        _pending.Clear();
        return segment;
    }
}
