using System.Runtime.CompilerServices;
using Lockstep.Engine.Cpu.Translation;

namespace Lockstep.Engine.Cpu;

/// <summary>Which copy of the interpreter runs: plain, or stopping where compiled code can take over.</summary>
internal interface IInterpreterMode
{
    static abstract bool StopsAtTranslations { get; }
}

/// <summary>
/// Running hot guest code compiled to IL (see Translation/): the interpreter counts jump targets,
/// and the dispatcher below runs compiled code whenever pc is at the start of a compiled block.
/// Both count every instruction and stop exactly at the end of a chunk, so which of them runs an
/// instruction never shows in the execution.
/// </summary>
public sealed unsafe partial class Machine
{
    private readonly TranslationCache _translations;

    /// <summary>Where RAM, the page flags and the registers are, for compiled code to load through the machine it is bound to.</summary>
    internal readonly nint* CodeBases;

    // Slots of CodeBases: where compiled code finds this machine's state (its code is shared by every machine).
    internal const int RamBaseSlot = 0, PageStateBaseSlot = 1, RegistersBaseSlot = 2;

    /// <summary>
    /// A store by compiled code that the machine must look at (see <see cref="MarkWritten"/>): into
    /// a page holding code, or across pages. The compiled code returned right after the store.
    /// </summary>
    /// <remarks>(offset &lt;&lt; 32) | size; 0 when there is none.</remarks>
    internal ulong PendingStore;

    /// <summary>Compile hot code (the default); off, every instruction goes through the interpreter.</summary>
    public bool UseTranslator { get; set; } = true;

    /// <summary>Regions compiled so far (dropped ones included).</summary>
    public int CompiledRegions => _translations.Compiled;

    /// <summary>Of <see cref="CompiledRegions"/>, those whose code was compiled before, for this or another machine of the process (no JIT).</summary>
    public int SharedRegions { get; private set; }

    /// <summary>Instructions executed by compiled code rather than by the interpreter.</summary>
    public ulong CompiledInstructions { get; private set; }

    private struct Plain : IInterpreterMode
    {
        public static bool StopsAtTranslations => false;
    }

    private struct Translating : IInterpreterMode
    {
        public static bool StopsAtTranslations => true;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ExecuteChunk(ulong end)
    {
        if (!UseTranslator)
        {
            Interpret<Plain>(end);
            return;
        }
        while (true)
        {
            if (_translations.Lookup(Pc - MemoryMap.RamBase) is { } code)
            {
                ulong allowed = Math.Min(end - Position, RegionEmitter.MaxBudget), budget = allowed;
                Pc = code(Pc, ref budget);
                if (PendingStore != 0)
                {
                    MarkWritten((uint)(PendingStore >> 32), (uint)PendingStore);
                    PendingStore = 0;
                }
                ulong executed = allowed - budget;
                CompiledInstructions += executed;
                Position += executed;
                if (Position >= end) return;
                if (executed != 0) continue;
                // Not even the first block fits before end: the interpreter finishes one instruction at a time.
            }
            Interpret<Translating>(end);
            if (Position >= end || _exitRequested) return;
        }
    }

    internal Region? ScanRegion(uint pc, ReadOnlySpan<byte> entries)
    {
        uint offset = pc - MemoryMap.RamBase;
        uint pageOffset = offset & ~(uint)(MemoryMap.PageSize - 1);
        var region = RegionScanner.Scan(new ReadOnlySpan<byte>(_ram + pageOffset, MemoryMap.PageSize), MemoryMap.RamBase + pageOffset, (int)((offset - pageOffset) >> 2), entries);
        // Stores into the page must now be noticed, as for decoded instructions.
        if (region is not null) _pageState[pageOffset >> MemoryMap.PageShift] |= PageCode;
        return region;
    }

    internal TranslatedCode Compile(Region region)
    {
        var words = new List<uint>();
        foreach (var block in region.Blocks)
            for (int i = 0; i < block.Length; i++) words.Add(*(uint*)(_ram + (block.PcOf(i) - MemoryMap.RamBase)));
        var (code, reused) = RegionEmitter.Compile(this, region, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(words));
        if (reused) SharedRegions++;
        return code;
    }
}
