using System.Runtime.CompilerServices;

namespace Lockstep.Engine.Cpu.Translation;

/// <summary>
/// Compiled code by block address, with the entry counts that decide what is worth compiling.
/// Kept per RAM page, allocated when code in the page first jumps somewhere, and dropped a page at
/// a time when a store hits compiled instructions (a region never spans pages).
/// </summary>
internal sealed class TranslationCache(int pageCount)
{
    /// <summary>Entries before a jump target is compiled: cold code never is.</summary>
    public const int Threshold = 32;

    private const byte NotTranslatable = byte.MaxValue;

    private readonly CodePage?[] _pages = new CodePage?[pageCount];

    /// <summary>Regions compiled so far (dropped ones included).</summary>
    public int Compiled { get; private set; }

    /// <summary>The compiled code that can start at RAM offset <paramref name="offset"/>, if any.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public TranslatedCode? Lookup(uint offset)
    {
        uint page = offset >> MemoryMap.PageShift;
        if (page >= (uint)_pages.Length || (offset & 3) != 0) return null;
        return _pages[page]?.Code[(offset >> 2) & (RegionScanner.WordsPerPage - 1)];
    }

    /// <summary>
    /// Counts a jump to <paramref name="pc"/> and compiles the region there once it is hot. True
    /// when compiled code can start at <paramref name="pc"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public bool Enter(Machine machine, uint pc)
    {
        uint offset = pc - MemoryMap.RamBase;
        uint pageIndex = offset >> MemoryMap.PageShift;
        if (pageIndex >= (uint)_pages.Length || (offset & 3) != 0) return false;
        var page = _pages[pageIndex] ??= new CodePage();
        int word = (int)((offset >> 2) & (RegionScanner.WordsPerPage - 1));
        if (page.Code[word] is not null) return true;
        byte heat = page.Heat[word];
        if (heat == NotTranslatable) return false;
        page.Heat[word] = ++heat;
        if (heat < Threshold) return false;
        var region = machine.ScanRegion(pc, page.Heat);
        if (region is null)
        {
            page.Heat[word] = NotTranslatable;
            return false;
        }
        // Every block of the region can start a run, so later hot entries into it need no compiling.
        var code = machine.Compile(region);
        foreach (var block in region.Blocks) page.Code[(block.Start >> 2) & (RegionScanner.WordsPerPage - 1)] = code;
        for (int i = 0; i < page.Covered.Length; i++) page.Covered[i] |= region.CoveredWords[i];
        Compiled++;
        return true;
    }

    /// <summary>Drops the compiled code (and entry counts) of every page whose compiled instructions the written range touches.</summary>
    public void Forget(uint offset, uint length)
    {
        uint first = offset >> 2, last = (offset + length - 1) >> 2;
        for (uint word = first; word <= last; word++)
        {
            uint pageIndex = word / RegionScanner.WordsPerPage;
            if (_pages[pageIndex] is not { } page) continue;
            int inPage = (int)(word % RegionScanner.WordsPerPage);
            if ((page.Covered[inPage >> 6] & (1UL << inPage)) != 0) _pages[pageIndex] = null;
        }
    }

    public void Clear() => Array.Clear(_pages);

    private sealed class CodePage
    {
        public readonly TranslatedCode?[] Code = new TranslatedCode?[RegionScanner.WordsPerPage];
        public readonly byte[] Heat = new byte[RegionScanner.WordsPerPage];
        public readonly ulong[] Covered = new ulong[RegionScanner.WordsPerPage / 64];
    }
}
