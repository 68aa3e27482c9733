using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Snapshots;

/// <summary>A checkpoint as taken: the bytes (<see cref="CheckpointFormat"/>) and whether they start a chain.</summary>
public sealed record CheckpointImage(bool IsFull, int Pages, byte[] Bytes);

/// <summary>
/// Journal checkpoints of one running machine: a full one now and then, otherwise an increment of
/// the pages written since the checkpoint before (the machine's checkpoint marks, which the live
/// copy's dirty marks do not disturb), and the way back: a full one and the increments after it.
/// Used on the machine's thread only.
/// </summary>
/// <param name="fullEvery">At most this many checkpoints per chain, the full one included.</param>
/// <param name="fullFraction">A full checkpoint instead of an increment once the chain's increments would hold
/// more pages than this fraction of its full one's: a rebuild then reads less and the storage of a chain stays bounded.</param>
public sealed class CheckpointChain(int fullEvery = CheckpointChain.DefaultFullEvery, double fullFraction = CheckpointChain.DefaultFullFraction)
{
    public const int DefaultFullEvery = 10;
    public const double DefaultFullFraction = 0.5;

    /// <summary>A chain's full checkpoint of fewer pages still counts as this many, so that a small machine does not take a full one every time.</summary>
    private const int MinimumFullPages = 64;

    private bool _fullWanted = true;
    private ulong _chain;
    private int _ordinal;
    private ulong _lastPosition;
    private int _fullPages;
    private long _incrementPages;

    /// <summary>The next checkpoint is a full one (the journal lost one of this chain, or a new log starts).</summary>
    public void RequireFull() => _fullWanted = true;

    public CheckpointImage Capture(Machine machine)
    {
        var pages = machine.PagesSinceCheckpoint().ToList();
        bool full = _fullWanted || _ordinal + 1 >= fullEvery
            || _incrementPages + pages.Count > fullFraction * Math.Max(_fullPages, MinimumFullPages);
        CheckpointHeader header;
        if (full)
        {
            pages = MachineSnapshot.NonZeroPages(machine);
            header = new CheckpointHeader(NewChain(), 0, 0, machine.Position);
            _fullPages = pages.Count;
            _incrementPages = 0;
            _fullWanted = false;
        }
        else
        {
            header = new CheckpointHeader(_chain, _ordinal + 1, _lastPosition, machine.Position);
            _incrementPages += pages.Count;
        }
        var bytes = CheckpointFormat.Encode(machine, header, pages);
        machine.ClearCheckpointMarks();
        (_chain, _ordinal, _lastPosition) = (header.Chain, header.Ordinal, header.Position);
        return new CheckpointImage(full, pages.Count, bytes);
    }

    /// <summary>
    /// Restores <paramref name="full"/> and then the increments of its chain, in order, as far as they
    /// go on without a gap: one that is corrupt, truncated, of another chain or not the next of this one
    /// ends the chain there, and is reported to <paramref name="refused"/> (index, reason). The machine
    /// then stands at the last checkpoint applied, from which the log goes on.
    /// </summary>
    /// <param name="full">A full checkpoint, or a full snapshot of the older kinds (no increments follow those).</param>
    /// <returns>How many increments were applied.</returns>
    /// <exception cref="InvalidDataException">The full checkpoint itself is refused: there is nothing to start from.</exception>
    public static int Restore(Machine machine, byte[] full, IReadOnlyList<byte[]> increments, Action<int, string>? refused = null)
    {
        CheckpointHeader? last = null;
        if (CheckpointFormat.IsCheckpoint(full))
        {
            var header = CheckpointFormat.ReadHeader(full);
            if (!header.IsFull) throw new InvalidDataException($"checkpoint {header.Ordinal} of its chain is an increment, not a full checkpoint");
            CheckpointFormat.Apply(machine, full);
            last = header;
        }
        else MachineSnapshot.Restore(machine, full);
        for (int i = 0; i < increments.Count; i++)
        {
            string? why = Refusal(increments[i], last);
            if (why is not null)
            {
                refused?.Invoke(i, why);
                return i;
            }
            CheckpointFormat.Apply(machine, increments[i]);
            last = CheckpointFormat.ReadHeader(increments[i]);
        }
        return increments.Count;
    }

    private static string? Refusal(byte[] increment, CheckpointHeader? last)
    {
        if (last is not { } previous) return "it follows a full snapshot of the older kind, which starts no chain";
        CheckpointHeader header;
        try
        {
            header = CheckpointFormat.ReadHeader(increment);
        }
        catch (InvalidDataException e)
        {
            return e.Message;
        }
        if (header.Chain != previous.Chain) return "it belongs to another chain (its full checkpoint was not saved or is not the one restored)";
        if (header.Ordinal != previous.Ordinal + 1 || header.BasePosition != previous.Position)
            return $"it is increment {header.Ordinal} on top of position {header.BasePosition}, but the chain stands at {previous.Ordinal} at position {previous.Position}";
        return null;
    }

    private static ulong NewChain()
    {
        ulong chain;
        do chain = (ulong)Random.Shared.NextInt64(long.MinValue, long.MaxValue); while (chain == 0);
        return chain;
    }
}
