using System.Collections.Concurrent;
using System.Reflection.Emit;

namespace Lockstep.Engine.Cpu.Translation;

/// <summary>
/// Compiled regions shared by every machine of the process: machines running the same guest image compile the
/// same regions, and each compile is a JIT of a DynamicMethod (a 1,000-VM node spent most of its VM threads' time
/// in the JIT as its VMs' first requests and new secondaries compiled the same code over again). A region's code
/// holds nothing of one machine (its state is reached through the machine it is bound to), so it is keyed by what
/// the IL is made from: the RAM size, the blocks' addresses, lengths and ends, their instruction words and the
/// return points. Each machine binds the shared method to itself (a delegate, no JIT).
/// </summary>
internal static class SharedCompiledCode
{
    /// <summary>Regions kept at most; past this, code is compiled for its machine alone (a guest generating code without end).</summary>
    public const int MaxRegions = 16_384;

    private static readonly ConcurrentDictionary<RegionKey, Lazy<DynamicMethod>> Methods = new();

    /// <returns>The code bound to <paramref name="machine"/>, and whether it was compiled before (for this or another machine).</returns>
    public static (TranslatedCode Code, bool Reused) For(Machine machine, Region region, ReadOnlySpan<uint> words, Func<DynamicMethod> compile)
    {
        var key = RegionKey.Of(machine.RamSize, region, words);
        bool reused = Methods.TryGetValue(key, out var method);
        if (!reused)
        {
            if (Methods.Count >= MaxRegions) return (compile().CreateDelegate<TranslatedCode>(machine), false);
            var mine = new Lazy<DynamicMethod>(compile, LazyThreadSafetyMode.ExecutionAndPublication);
            method = Methods.GetOrAdd(key, mine);
            reused = !ReferenceEquals(method, mine);
        }
        return (method!.Value.CreateDelegate<TranslatedCode>(machine), reused);
    }

    /// <summary>Everything the emitted IL depends on, as words; equal keys give the same IL.</summary>
    private sealed class RegionKey : IEquatable<RegionKey>
    {
        private readonly uint[] _words;
        private readonly int _hash;

        private RegionKey(uint[] words)
        {
            _words = words;
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(words.AsSpan()));
            _hash = hash.ToHashCode();
        }

        /// <param name="words">The instruction words of the region's blocks, block after block.</param>
        public static RegionKey Of(uint ramSize, Region region, ReadOnlySpan<uint> words)
        {
            var key = new List<uint>(4 + region.Blocks.Length * 3 + words.Length + region.ReturnPoints.Length)
            {
                ramSize, region.Entry, (uint)region.Blocks.Length, (uint)region.ReturnPoints.Length,
            };
            foreach (var block in region.Blocks)
            {
                key.Add(block.Start);
                key.Add((uint)block.Length);
                key.Add((uint)block.End);
            }
            key.AddRange(region.ReturnPoints);
            foreach (uint word in words) key.Add(word);
            return new RegionKey([.. key]);
        }

        public bool Equals(RegionKey? other) => other is not null && _hash == other._hash && _words.AsSpan().SequenceEqual(other._words);
        public override bool Equals(object? obj) => Equals(obj as RegionKey);
        public override int GetHashCode() => _hash;
    }
}
