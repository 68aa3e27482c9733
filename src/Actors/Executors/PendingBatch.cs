using System.Diagnostics;

namespace Lockstep.Actors.Executors;

/// <summary>Log batches that arrived while a journal write was under way, joined into the one event that goes next.</summary>
internal sealed class PendingBatch
{
    private readonly MemoryStream _segments = new();
    private readonly VmLogJournal.LogBatch _oldest;
    private readonly long _first;
    private long _end;
    private ulong _horizon;

    public PendingBatch(VmLogJournal.LogBatch batch)
    {
        _oldest = batch;
        _first = batch.FirstEntry;
        Arrived = Stopwatch.GetTimestamp();
        Append(batch);
    }

    /// <summary>When the oldest batch in it arrived (a Stopwatch timestamp).</summary>
    public long Arrived { get; }

    /// <summary>How many batches it holds.</summary>
    public int Parts { get; private set; }

    /// <summary>Adds <paramref name="batch"/> when it continues the log where this one ends; false (nothing added) otherwise.</summary>
    public bool TryJoin(VmLogJournal.LogBatch batch)
    {
        if (batch.FirstEntry != _end) return false;
        Append(batch);
        return true;
    }

    public VmLogJournal.LogBatch Take() => Parts == 1 ? _oldest : new(_first, _end, _horizon, _segments.ToArray());

    private void Append(VmLogJournal.LogBatch batch)
    {
        _end = batch.EndEntry;
        _horizon = batch.Horizon;
        _segments.Write(batch.Segments);
        Parts++;
    }
}
