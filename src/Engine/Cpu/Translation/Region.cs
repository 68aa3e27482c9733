namespace Lockstep.Engine.Cpu.Translation;

/// <summary>How control leaves a block after its last instruction.</summary>
internal enum BlockEnd
{
    /// <summary>On to <see cref="Block.Next"/>: the next block, or an exit when that code is not translated.</summary>
    FallThrough,
    Branch,
    Jal,
    Jalr,
}

/// <summary>Guest instructions entered only at the top, so one count check covers them all.</summary>
internal sealed class Block(uint start, DecodedInstruction[] instructions, BlockEnd end)
{
    public uint Start => start;
    public DecodedInstruction[] Instructions => instructions;
    public BlockEnd End => end;
    public int Length => instructions.Length;

    /// <summary>The address after the last instruction.</summary>
    public uint Next => start + 4u * (uint)instructions.Length;

    public uint PcOf(int index) => start + 4u * (uint)index;
}

/// <summary>
/// The blocks reachable from an entry by direct jumps and branches inside one RAM page, compiled
/// together so that loops run without leaving translated code.
/// </summary>
internal sealed class Region(uint entry, Block[] blocks, uint[] returnPoints, ulong[] coveredWords)
{

    public uint Entry => entry;

    /// <summary>In address order.</summary>
    public Block[] Blocks => blocks;

    /// <summary>Block starts that follow a call (jal with a link) in this region: likely jalr targets.</summary>
    public uint[] ReturnPoints => returnPoints;

    /// <summary>Bit per word of the page: the instructions compiled into the region.</summary>
    public ulong[] CoveredWords => coveredWords;
}
