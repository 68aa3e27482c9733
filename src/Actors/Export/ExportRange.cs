using Lockstep.Actors.Executors;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Export;

/// <summary>A range the journal cannot give: the message says what it does hold.</summary>
public sealed class ExportRangeException(string message) : Exception(message);

/// <summary>
/// Cuts an export out of what the journal holds of a VM: the newest checkpoint of the chain at or
/// before the start (the full one and the increments up to there), and the log from there to the end.
/// A time bound means the journal's write times: the start is the newest checkpoint written at or
/// before it (the oldest it holds when none is that old), the end the last log batch written at or before it. A position bound is exact at the
/// end (the log is cut there) and at the start picks the newest checkpoint at or before it; the
/// replay then runs from that checkpoint, so the export holds the position asked for and a little before.
/// </summary>
public static class ExportRange
{
    private sealed record ChainPoint(ulong Position, long EntryIndex, DateTime? WrittenAt);

    public static ExportContents Cut(string vm, VmJournalReader.Definition definition, VmJournalReader.History history,
        ExportBound? from, ExportBound? to, DateTime now)
    {
        var (chain, usable) = Chain(history);
        if (chain.Count == 0 && history.Batches.Count > 0 && history.Batches[0].Event.FirstEntry != 0)
            throw new ExportRangeException($"the journal of {vm} holds no checkpoint and its log does not go back to boot: nothing to start from");
        var startIndex = chain.Count == 0 ? 0 : chain.FindLastIndex(p => from is null || Before(p, from));
        // "The last ten minutes" of a journal that holds five means those five; an instruction count it does not hold is refused.
        if (startIndex < 0 && from?.Time is not null) startIndex = 0;
        if (startIndex < 0)
            throw new ExportRangeException($"the journal of {vm} holds its history from instruction {chain[0].Position} "
                + $"(checkpoint written {Format(chain[0].WrittenAt)}) on; {from} is before that");
        var start = chain.Count == 0 ? new ChainPoint(0, 0, null) : chain[startIndex];

        var segments = new List<LogSegment>();
        DateTime? end = start.WrittenAt;
        ulong horizon = start.Position;
        long nextEntry = start.EntryIndex;
        foreach (var batch in history.Batches)
        {
            if (to?.Time is { } until && batch.WrittenAt > until) break;
            if (batch.Event.EndEntry <= nextEntry && batch.Event.Horizon <= horizon) continue;
            bool past = false;
            foreach (var whole in VmJournalReader.Segments([batch.Event]))
            {
                if (whole.EndEntryIndex < nextEntry || (whole.EndEntryIndex == nextEntry && whole.Horizon <= horizon)) continue;
                if (whole.FirstEntryIndex > nextEntry) { past = true; break; } // a gap: the log goes no further
                var segment = whole.FirstEntryIndex == nextEntry ? whole
                    : whole with { FirstEntryIndex = nextEntry, Entries = whole.Entries[(int)(nextEntry - whole.FirstEntryIndex)..] };
                if (to?.Position is { } stop && segment.Horizon >= stop)
                {
                    if (stop > horizon) segments.Add(segment with { Horizon = stop, Entries = segment.Entries.Where(e => e.Position < stop).ToArray(), Final = false, FinalStateHash = null });
                    horizon = Math.Max(horizon, stop);
                    end = batch.WrittenAt;
                    past = true;
                    break;
                }
                segments.Add(segment with { Final = false, FinalStateHash = null });
                nextEntry = segment.EndEntryIndex;
                horizon = segment.Horizon;
                end = batch.WrittenAt;
            }
            if (past) break;
        }
        if (to?.Position is { } wanted && wanted < start.Position)
            throw new ExportRangeException($"the export would start at instruction {start.Position} (the newest checkpoint at or before {from?.ToString() ?? "the start"}), after its end {to}");
        if (from?.Position is { } first && first > horizon)
            throw new ExportRangeException($"the journal's log of {vm} ends at instruction {horizon}, before {from}");
        if (to?.Time is { } toTime && from?.Time is { } fromTime && toTime < fromTime)
            throw new ExportRangeException($"--to {to} is before --from {from}");

        var info = new ExportInfo(vm, now, start.EntryIndex, start.Position, horizon, start.WrittenAt, end);
        return new ExportContents(info, definition.MemorySize, definition.Image, history.Checkpoint?.Event.Snapshot,
            usable.Take(Math.Max(startIndex, 0)).ToList(), segments);
    }

    /// <summary>The full checkpoint and the increments that follow it without a gap, as the rebuild would use them.</summary>
    private static (List<ChainPoint> Points, List<byte[]> Increments) Chain(VmJournalReader.History history)
    {
        var points = new List<ChainPoint>();
        var increments = new List<byte[]>();
        if (history.Checkpoint is not { } full) return (points, increments);
        CheckpointHeader last;
        try
        {
            last = CheckpointFormat.ReadHeader(full.Event.Snapshot);
        }
        catch (InvalidDataException e)
        {
            throw new ExportRangeException($"the journal's full checkpoint cannot be used: {e.Message}");
        }
        points.Add(new ChainPoint(full.Event.Position, full.Event.EntryIndex, full.WrittenAt));
        foreach (var stored in history.Increments)
        {
            try
            {
                var header = CheckpointFormat.ReadHeader(stored.Event.Snapshot);
                if (header.Chain != last.Chain || header.Ordinal != last.Ordinal + 1 || header.BasePosition != last.Position) break;
                last = header;
            }
            catch (InvalidDataException)
            {
                break; // the rebuild stops the chain there too; the log from the checkpoint before is still held
            }
            increments.Add(stored.Event.Snapshot);
            points.Add(new ChainPoint(stored.Event.Position, stored.Event.EntryIndex, stored.WrittenAt));
        }
        return (points, increments);
    }

    private static bool Before(ChainPoint point, ExportBound bound) =>
        bound.Position is { } position ? point.Position <= position : point.WrittenAt <= bound.Time;

    private static string Format(DateTime? time) => time is { } t ? $"{t:yyyy-MM-dd HH:mm:ss} UTC" : "at an unknown time";
}
