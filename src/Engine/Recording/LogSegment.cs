namespace Lockstep.Engine.Recording;

/// <summary>
/// A batch of consecutive log entries. <paramref name="Horizon"/> is the recorder's instruction
/// count when the batch was cut: every event before it is in this or an earlier segment, so a
/// replayer may run up to (not through) it. The final segment closes a recording and may carry
/// the state hash the recorder ended with.
/// </summary>
public sealed record LogSegment(long FirstEntryIndex, ulong Horizon, LogEntry[] Entries, bool Final = false, ulong? FinalStateHash = null)
{
    public long EndEntryIndex => FirstEntryIndex + Entries.Length;
}
