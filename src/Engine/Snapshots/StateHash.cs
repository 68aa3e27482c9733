using System.Numerics;
using System.Runtime.InteropServices;
using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Snapshots;

/// <summary>
/// A 64-bit digest of the whole machine state (core state and all of RAM), for checking that two
/// replicas agree. Four independent multiply-rotate lanes keep it near memory speed; pages that
/// read zero count as absent, so only written pages are read.
/// </summary>
public static class StateHash
{
    private const ulong Prime1 = 0x9E37_79B1_85EB_CA87, Prime2 = 0xC2B2_AE3D_27D4_EB4F;

    public static ulong Compute(Machine machine)
    {
        var core = new MemoryStream();
        using (var writer = new BinaryWriter(core)) machine.SaveCore(writer);
        ulong coreHash = Hash(core.ToArray());
        return Mix(coreHash ^ Mix(RamHash(machine)));
    }

    /// <summary>
    /// Of the pages that are not all zero, each with its number: a function of RAM's contents alone,
    /// whichever pages a machine happens to have written, and only written pages are read.
    /// </summary>
    private static ulong RamHash(Machine machine)
    {
        ulong h = Prime1 ^ machine.RamSize;
        foreach (int page in machine.TouchedPages())
        {
            var bytes = machine.Page(page);
            if (bytes.IndexOfAnyExcept((byte)0) < 0) continue;
            h = Mix(h ^ ((ulong)page * Prime2) ^ Hash(bytes));
        }
        return h;
    }

    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        ulong a = Prime1, b = Prime2, c = ~Prime1, d = ~Prime2;
        int i = 0;
        for (; i + 4 <= words.Length; i += 4)
        {
            a = BitOperations.RotateLeft(a + words[i] * Prime2, 31) * Prime1;
            b = BitOperations.RotateLeft(b + words[i + 1] * Prime2, 31) * Prime1;
            c = BitOperations.RotateLeft(c + words[i + 2] * Prime2, 31) * Prime1;
            d = BitOperations.RotateLeft(d + words[i + 3] * Prime2, 31) * Prime1;
        }
        ulong h = BitOperations.RotateLeft(a, 1) + BitOperations.RotateLeft(b, 7) + BitOperations.RotateLeft(c, 12) + BitOperations.RotateLeft(d, 18);
        for (; i < words.Length; i++) h = Mix(h ^ words[i]);
        for (int j = words.Length * 8; j < data.Length; j++) h = Mix(h ^ data[j]);
        return Mix(h ^ (ulong)data.Length);
    }

    private static ulong Mix(ulong h)
    {
        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime1;
        return h ^ (h >> 32);
    }
}
