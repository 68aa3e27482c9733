namespace Lockstep.Engine.Recording;

/// <summary>Replay saw the machine do something the log does not say it did.</summary>
public sealed class DivergenceException(long entryIndex, string message) : Exception(message)
{
    /// <summary>Index of the log entry at which replay and log parted.</summary>
    public long EntryIndex { get; } = entryIndex;
}
