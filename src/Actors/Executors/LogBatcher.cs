using Lockstep.Engine.Recording;

namespace Lockstep.Actors.Executors;

/// <summary>Gathers cut log segments into one journal event (never a row per input). Used by one actor only.</summary>
internal sealed class LogBatcher
{
    private const int FlushBytes = 1 << 20;

    private readonly MemoryStream _segments = new();
    private long _first = -1, _end;
    private ulong _horizon;

    /// <summary>Adds a segment; true when the batch is big enough to go now.</summary>
    public bool Add(LogSegment segment, byte[] encoded)
    {
        if (_first < 0) _first = segment.FirstEntryIndex;
        _end = segment.EndEntryIndex;
        _horizon = segment.Horizon;
        _segments.Write(encoded);
        return _segments.Length >= FlushBytes;
    }

    /// <summary>The batch so far, or null when empty; starts a new one.</summary>
    public VmLogJournal.LogBatch? Take()
    {
        if (_first < 0) return null;
        var batch = new VmLogJournal.LogBatch(_first, _end, _horizon, _segments.ToArray());
        Clear();
        return batch;
    }

    /// <summary>Drops what was gathered (it would not follow the next checkpoint).</summary>
    public void Clear()
    {
        _segments.SetLength(0);
        _first = -1;
    }
}
